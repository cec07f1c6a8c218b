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

/** The first line (at most 1 KiB) of a `/proc` file, or undefined when it cannot be read. */
function readProc(ffi: Ffi, path: string, bytes = 1024): string | undefined {
  const fd = ffi.open(path, ffi.consts.O_CLOEXEC, 0);
  if (fd < 0) return undefined;
  try {
    const buf = new Uint8Array(bytes);
    const n = ffi.read(fd, buf);
    return n <= 0 ? undefined : decoder.decode(buf.subarray(0, n));
  } finally {
    ffi.close(fd);
  }
}

/** A `stat` line parsed: its first field (pid or tid), state and start time. */
function parseStat(text: string | undefined): (ProcessStat & { readonly id: number }) | undefined {
  if (text === undefined) return undefined;
  // "pid (comm) S ppid …": comm may hold spaces and ')', so fields count from the last ')'.
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).split(" ");
  const startTime = Number(fields[19]); // field 22; fields[0] is field 3
  const id = Number(text.slice(0, text.indexOf(" ")));
  if (fields[0] === undefined || !Number.isSafeInteger(startTime)) return undefined;
  return { id, state: fields[0], startTime };
}

/** `/proc/<pid>/stat` parsed, or undefined when there is no such process (or its line cannot be parsed). */
export function readStat(ffi: Ffi, pid: number): ProcessStat | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  const s = parseStat(readProc(ffi, `/proc/${pid}/stat`));
  return s === undefined ? undefined : { state: s.state, startTime: s.startTime };
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

/** The calling thread's identity, by thread (per thread: module state is). */
let selfThreadCache: ProcessIdentity | null | undefined;

/**
 * The calling OS thread's identity: its thread id (`gettid`, what
 * `/proc/thread-self` names) and start time, field 22 of its `stat`, which
 * tells it from a later thread reusing the id. Undefined where
 * `/proc/thread-self` is unreadable (Linux before 3.17, a `/proc` without
 * it): owners are then told apart by process only.
 *
 * @example Identifying this thread
 * ```ts
 * import { loadFfi } from "./_ffi.ts";
 * import { isThreadAlive, selfIdentity, selfThread } from "./_liveness.ts";
 * const ffi = await loadFfi();
 * const t = selfThread(ffi);
 * if (t !== undefined) console.log(isThreadAlive(ffi, selfIdentity(ffi).pid, t)); // true
 * ```
 */
export function selfThread(ffi: Ffi): ProcessIdentity | undefined {
  if (selfThreadCache === undefined) {
    const s = parseStat(readProc(ffi, "/proc/thread-self/stat"));
    selfThreadCache = s !== undefined && Number.isSafeInteger(s.id) && s.id > 0
      ? { pid: s.id, startTime: s.startTime }
      : null;
  }
  return selfThreadCache ?? undefined;
}

/**
 * True while thread `thread` (its `pid` field a thread id) of process `pid`
 * runs: false when the process has no such thread (it ended: threads other
 * than a process's first are reaped at once), when it is a zombie, or when
 * the thread now holding the id started at another time.
 *
 * @example A thread id no thread holds
 * ```ts
 * import { loadFfi } from "./_ffi.ts";
 * import { isThreadAlive, selfIdentity } from "./_liveness.ts";
 * const ffi = await loadFfi();
 * const me = selfIdentity(ffi);
 * console.log(isThreadAlive(ffi, me.pid, { pid: me.pid, startTime: me.startTime })); // true: the main thread
 * ```
 */
export function isThreadAlive(ffi: Ffi, pid: number, thread: ProcessIdentity): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0 || !Number.isSafeInteger(thread.pid) || thread.pid <= 0) return false;
  const s = parseStat(readProc(ffi, `/proc/${pid}/task/${thread.pid}/stat`));
  if (s === undefined) return false;
  if (s.state === "Z" || s.state === "X" || s.state === "x") return false;
  return s.startTime === thread.startTime;
}

/**
 * This process's effective user id (the `Uid:` line of `/proc/self/status`),
 * or undefined when it cannot be read: what names a user's registry of
 * owner ids.
 *
 * @example
 * ```ts
 * import { loadFfi } from "./_ffi.ts";
 * import { selfUid } from "./_liveness.ts";
 * console.log(selfUid(await loadFfi())); // 1000, say
 * ```
 */
export function selfUid(ffi: Ffi): number | undefined {
  const text = readProc(ffi, "/proc/self/status", 4096);
  const m = text === undefined ? null : /^Uid:\s+\d+\s+(\d+)/m.exec(text);
  const uid = m === null ? NaN : Number(m[1]);
  return Number.isSafeInteger(uid) ? uid : undefined;
}
