/**
 * Whether the process that owns something in a shared region is still alive.
 *
 * A pid alone cannot say it: `kill(pid, 0)` succeeds for a zombie (killed,
 * not yet reaped by its parent), and pids are reused (`pid_max` is 32768 on
 * many machines and wraps in minutes of spawning). So an owner is identified
 * by its pid and its start time (field 22 of `/proc/<pid>/stat`, in clock
 * ticks since boot), and it is dead when `kill(pid, 0)` gives ESRCH, when its
 * state is `Z` (zombie) or `X` (dead), or when the process now holding the pid
 * started at another time. Reads go through the FFI (libc `open`/`read`), so
 * Deno needs no `--allow-read` beyond the `--allow-ffi` that `shm:` needs.
 *
 * @example Checking an owner read from a region
 * ```ts
 * import { loadFfi } from "./_ffi.ts";
 * import { isAlive, selfIdentity } from "./_liveness.ts";
 * const ffi = await loadFfi();
 * const me = selfIdentity(ffi);
 * console.log(isAlive(ffi, me), isAlive(ffi, { pid: me.pid, startTime: me.startTime + 1 })); // true false
 * ```
 * @module
 */
import { Errno, type Ffi } from "./_ffi.ts";

/** A process, told apart from a later process that reuses its pid. */
export interface ProcessIdentity {
  /** The process id. */
  readonly pid: number;
  /** Its start time: field 22 of `/proc/<pid>/stat`, clock ticks after boot. */
  readonly startTime: number;
}

/** What `/proc/<pid>/stat` says about a process. */
export interface ProcessStat {
  /** Field 3: `R`, `S`, `D`, `Z` (zombie), `T`, `X` (dead), … */
  readonly state: string;
  /** Field 22: start time in clock ticks after boot. */
  readonly startTime: number;
}

const decoder = new TextDecoder();

/** `/proc/<pid>/stat` parsed, or undefined when there is no such process (or its line cannot be parsed). */
export function readStat(ffi: Ffi, pid: number): ProcessStat | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  const c = ffi.consts;
  const fd = ffi.open(`/proc/${pid}/stat`, c.O_CLOEXEC, 0);
  if (fd < 0) return undefined;
  let text: string;
  try {
    const buf = new Uint8Array(1024);
    const n = ffi.read(fd, buf);
    if (n <= 0) return undefined;
    text = decoder.decode(buf.subarray(0, n));
  } finally {
    ffi.close(fd);
  }
  // "pid (comm) S ppid …": comm may hold spaces and ')', so fields count from the last ')'.
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).split(" ");
  const startTime = Number(fields[19]); // field 22; fields[0] is field 3
  if (fields[0] === undefined || !Number.isSafeInteger(startTime)) return undefined;
  return { state: fields[0], startTime };
}

/** This process's identity (pid and start time). */
export function selfIdentity(ffi: Ffi): ProcessIdentity {
  const pid = ffi.getpid();
  const stat = readStat(ffi, pid);
  if (stat === undefined) {
    throw new RangeError(`Cannot read this process's start time as /proc/${pid}/stat is unreadable: received ${pid}`);
  }
  return { pid, startTime: stat.startTime };
}

/**
 * True while the process `id` names runs (or sleeps, or is stopped): false
 * when no process has that pid, when it is a zombie, or when the process with
 * that pid started at another time (the pid was reused). A process of
 * another user (EPERM) counts as existing, then goes through the same checks.
 */
export function isAlive(ffi: Ffi, id: ProcessIdentity): boolean {
  if (!Number.isSafeInteger(id.pid) || id.pid <= 0) return false;
  const r = ffi.kill(id.pid, 0);
  if (r === -Errno.ESRCH) return false;
  const stat = readStat(ffi, id.pid);
  if (stat === undefined) return false;
  if (stat.state === "Z" || stat.state === "X" || stat.state === "x") return false;
  return stat.startTime === id.startTime;
}
