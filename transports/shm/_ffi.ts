/**
 * The few libc calls that `shm:` needs (open, ftruncate, posix_fallocate,
 * mmap, futex, kill, …), behind one interface with a backend per runtime:
 * `koffi` on Node (an optional dependency), `Deno.dlopen` on Deno (needs
 * `--allow-ffi`), `bun:ffi` on Bun. Linux only (x86-64 and arm64).
 *
 * Nothing is loaded when this module is imported: {@linkcode loadFfi} imports
 * the backend the first time it is called, so the Promise API never loads FFI
 * unless `shm:` is used. Every call returns a number, negative `-errno` on
 * failure, as the kernel does (no exception crosses the FFI boundary, and no
 * errno is read late). Pointers are plain Numbers: user-space addresses are
 * below 2^47.
 *
 * @example Loading the FFI of the running runtime
 * ```ts
 * import { loadFfi } from "./_ffi.ts";
 * const ffi = await loadFfi();
 * console.log(ffi.runtime, ffi.getpid());
 * ```
 * @module
 */
import { TransportError } from "../../errors.ts";
import { platform } from "../_runtime/env.ts";
import { type Runtime, runtime } from "../_runtime/runtime.ts";

/** What a futex wait returned: woken (or spuriously), the timeout elapsed, or the word did not hold `expected`. */
export type FutexWaitResult = "ok" | "timeout" | "mismatch";

/** A shared mapping of a file: an `ArrayBuffer` over it (not a copy) and its address. */
export interface Mapping {
  /** The mapped bytes; a plain `ArrayBuffer` (never a `SharedArrayBuffer`), valid until `munmap`. */
  readonly buffer: ArrayBuffer;
  /** The mapping's start address, below 2^47. */
  readonly address: number;
  /**
   * Another `ArrayBuffer` over the first `bytes` bytes of the mapping, where
   * the backend has a reason to view less than all of it (Bun: JavaScriptCore
   * counts a buffer's whole `byteLength` as live heap, see `ShmRegion`);
   * absent elsewhere, where `buffer` is all there is.
   */
  view?(bytes: number): ArrayBuffer;
}

/**
 * The raw calls a backend provides. Each returns its result, or `-errno`
 * (posix_fallocate, which returns its errno itself, is negated too). Paths
 * are NUL-terminated bytes.
 */
export interface Libc {
  open(path: Uint8Array, flags: number, mode: number): number;
  close(fd: number): number;
  ftruncate(fd: number, length: number): number;
  fallocate(fd: number, offset: number, length: number): number;
  lseek(fd: number, offset: number, whence: number): number;
  read(fd: number, into: Uint8Array): number;
  /** A `MAP_SHARED`, read-write mapping of `length` bytes of `fd` from offset 0, or `-errno`. */
  mmap(length: number, fd: number, prot: number, flags: number): Mapping | number;
  munmap(address: number, length: number): number;
  unlink(path: Uint8Array): number;
  /** `syscall(nr, a1, a2, a3, a4, 0, 0)` with `a4` a pointer to `timeout` (or NULL). */
  syscall4(nr: number, a1: number, a2: number, a3: number, timeout: BigInt64Array | null): number;
  kill(pid: number, signal: number): number;
  getpid(): number;
  /** The entries of the directory at `path` (`opendir`/`readdir`), `.` and `..` left out, or `-errno`. */
  listDir(path: Uint8Array): DirEntry[] | number;
}

/** A directory entry as `readdir` gives it: its name and its `d_type` (`DT_REG`, `DT_LNK`, …). */
export interface DirEntry {
  /** The file name (no directory part). */
  readonly name: string;
  /** `d_type`: `DT_REG` (8) for a regular file, `DT_LNK` (10) for a symbolic link, `DT_UNKNOWN` (0), … */
  readonly type: number;
}

/** `d_type` of a regular file. */
export const DT_REG = 8;
/** Where `d_type` and `d_name` sit in glibc's `struct dirent` on 64-bit Linux (x86-64 and arm64 alike). */
export const DIRENT_TYPE_OFFSET = 18;
export const DIRENT_NAME_OFFSET = 19;

/** Linux constants that differ by architecture (open flags, syscall numbers), and those that do not. */
export interface LinuxConstants {
  readonly O_RDWR: number;
  readonly O_CREAT: number;
  readonly O_EXCL: number;
  readonly O_NOFOLLOW: number;
  readonly O_CLOEXEC: number;
  readonly PROT_READ: number;
  readonly PROT_WRITE: number;
  readonly MAP_SHARED: number;
  readonly MAP_ANONYMOUS: number;
  readonly SEEK_END: number;
  readonly SYS_futex: number;
  /** `futex_waitv` (Linux ≥ 5.16), for the relay thread (transports/shm/_relay.ts). */
  readonly SYS_futex_waitv: number;
}

/** Errno values (the same on x86-64 and arm64). */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EAGAIN: 11,
  EACCES: 13,
  EEXIST: 17,
  EFAULT: 14,
  EINVAL: 22,
  ENOSPC: 28,
  ELOOP: 40,
  ENOSYS: 38,
  ETIMEDOUT: 110,
} as const;

const COMMON = {
  O_RDWR: 0o2,
  O_CREAT: 0o100,
  O_EXCL: 0o200,
  O_CLOEXEC: 0o2000000,
  PROT_READ: 1,
  PROT_WRITE: 2,
  MAP_SHARED: 1,
  MAP_ANONYMOUS: 0x20,
  SEEK_END: 2,
  SYS_futex_waitv: 449,
};

/** The constants by `process.arch` name; arm64 uses the generic open flags and syscall table. */
const BY_ARCH: Readonly<Record<string, LinuxConstants>> = {
  x64: { ...COMMON, O_NOFOLLOW: 0o400000, SYS_futex: 202 },
  arm64: { ...COMMON, O_NOFOLLOW: 0o100000, SYS_futex: 98 },
};

/**
 * The longest mapping: 4 GiB, the largest `ArrayBuffer` that koffi (Node 20:
 * a larger one aborts the process) and Bun (RangeError) give over foreign
 * memory. Deno allows more; the limit is the same everywhere so that a
 * region made in one runtime opens in every other.
 */
export const MAX_MAP_BYTES = 2 ** 32;

const FUTEX_WAIT = 0;
const FUTEX_WAKE = 1;

/**
 * The calls `shm:` makes, for the running runtime. Numbers are returned as
 * the kernel returns them: a result, or `-errno`.
 */
export interface Ffi {
  /** The runtime whose FFI backs this. */
  readonly runtime: Runtime;
  /** The constants of this machine's architecture. */
  readonly consts: LinuxConstants;
  /** `open(path, flags, mode)`: a file descriptor or `-errno`. */
  open(path: string, flags: number, mode: number): number;
  /** `close(fd)`: 0 or `-errno`. */
  close(fd: number): number;
  /** `ftruncate(fd, length)`: 0 or `-errno`. */
  ftruncate(fd: number, length: number): number;
  /** `posix_fallocate(fd, offset, length)`: 0 or `-errno` (`-ENOSPC` when the file system is full). */
  fallocate(fd: number, offset: number, length: number): number;
  /** The file's size (`lseek(fd, 0, SEEK_END)`), or `-errno`. */
  fileSize(fd: number): number;
  /** `read(fd, into, into.length)`: bytes read or `-errno`. */
  read(fd: number, into: Uint8Array): number;
  /** A shared read-write mapping of the first `length` bytes of `fd` (1 to `MAX_MAP_BYTES`), or `-errno`. */
  mmap(length: number, fd: number): Mapping | number;
  /**
   * A shared read-write mapping of `length` fresh zeroed bytes backed by no
   * file (`MAP_SHARED | MAP_ANONYMOUS`), or `-errno`. Every thread of this
   * process sees it at the same address (a futex word there works across
   * threads); no other process does.
   */
  mmapAnonymous(length: number): Mapping | number;
  /** `munmap(address, length)`: 0 or `-errno`. Views of the mapping must not be touched afterwards. */
  munmap(address: number, length: number): number;
  /** `unlink(path)`: 0 or `-errno`. */
  unlink(path: string): number;
  /**
   * Blocks while the 32-bit word at `address` holds `expected`, at most
   * `timeoutMs` (`Infinity`: no limit), until a `futexWake` on it (from any
   * process mapping the same file). A signal does not end the wait early.
   */
  futexWait(address: number, expected: number, timeoutMs: number): FutexWaitResult;
  /** Wakes up to `count` waiters of the word at `address`; the number woken, or `-errno`. */
  futexWake(address: number, count: number): number;
  /**
   * `futex_waitv(waiters, count, 0, NULL, 0)` (Linux ≥ 5.16): blocks, with no
   * time limit, until one of the `count` (1 to 128) `struct futex_waitv`
   * entries at address `waiters` is woken. Returns the index of the woken
   * entry, or `-errno`: `-EAGAIN` when some word did not hold its value,
   * `-EINTR`, `-EFAULT` for an unmapped word, `-ENOSYS` on older kernels.
   */
  futexWaitv(waiters: number, count: number): number;
  /** The entries of the directory `path`, `.` and `..` left out, or `-errno`. */
  listDir(path: string): DirEntry[] | number;
  /** `kill(pid, signal)`: 0 or `-errno` (`signal` 0 only checks that `pid` exists). */
  kill(pid: number, signal: number): number;
  /** This process's id. */
  getpid(): number;
}

const encoder = new TextEncoder();

/** `path` as NUL-terminated bytes; a NUL inside the path is refused. */
function cString(path: string): Uint8Array {
  if (path.includes("\0")) {
    throw new TypeError(`Cannot use path as it contains a NUL character: received ${JSON.stringify(path)}`);
  }
  return encoder.encode(path + "\0");
}

/** The monotonic clock in milliseconds. */
const now = (): number => performance.now();

/** Builds the runtime-neutral `Ffi` over a backend's raw calls. */
export function makeFfi(libc: Libc, consts: LinuxConstants, which: Runtime): Ffi {
  const timespec = new BigInt64Array(2);
  const futexWait = (address: number, expected: number, timeoutMs: number): FutexWaitResult => {
    const deadline = now() + timeoutMs;
    for (;;) {
      let ts: BigInt64Array | null = null;
      if (Number.isFinite(timeoutMs)) {
        const left = Math.max(0, deadline - now());
        const ns = Math.round(left * 1e6);
        timespec[0] = BigInt(Math.floor(ns / 1e9));
        timespec[1] = BigInt(ns % 1e9);
        ts = timespec;
      }
      const r = libc.syscall4(consts.SYS_futex, address, FUTEX_WAIT, expected | 0, ts);
      if (r >= 0) return "ok";
      if (r === -Errno.ETIMEDOUT) return "timeout";
      if (r === -Errno.EAGAIN) return "mismatch";
      if (r === -Errno.EINTR) continue;
      throw new RangeError(`Cannot wait on futex as the kernel refused it: received errno ${-r}`);
    }
  };
  return {
    runtime: which,
    consts,
    open: (path, flags, mode) => libc.open(cString(path), flags, mode),
    close: (fd) => libc.close(fd),
    ftruncate: (fd, length) => libc.ftruncate(fd, length),
    fallocate: (fd, offset, length) => libc.fallocate(fd, offset, length),
    fileSize: (fd) => libc.lseek(fd, 0, consts.SEEK_END),
    read: (fd, into) => libc.read(fd, into),
    mmap: (length, fd) =>
      Number.isSafeInteger(length) && length > 0 && length <= MAX_MAP_BYTES
        ? libc.mmap(length, fd, consts.PROT_READ | consts.PROT_WRITE, consts.MAP_SHARED)
        : -Errno.EINVAL,
    mmapAnonymous: (length) =>
      Number.isSafeInteger(length) && length > 0 && length <= MAX_MAP_BYTES
        ? libc.mmap(length, -1, consts.PROT_READ | consts.PROT_WRITE, consts.MAP_SHARED | consts.MAP_ANONYMOUS)
        : -Errno.EINVAL,
    munmap: (address, length) => libc.munmap(address, length),
    unlink: (path) => libc.unlink(cString(path)),
    futexWait,
    futexWake: (address, count) => libc.syscall4(consts.SYS_futex, address, FUTEX_WAKE, count, null),
    futexWaitv: (waiters, count) => libc.syscall4(consts.SYS_futex_waitv, waiters, count, 0, null),
    listDir: (path) => libc.listDir(cString(path)),
    kill: (pid, signal) => libc.kill(pid, signal),
    getpid: () => libc.getpid(),
  };
}

/** The CPU architecture, as Node names it (`x64`, `arm64`). */
function arch(): string {
  const g = globalThis as { Deno?: { build: { arch: string } }; process?: { arch?: string } };
  if (g.Deno !== undefined) {
    return g.Deno.build.arch === "x86_64" ? "x64" : g.Deno.build.arch === "aarch64" ? "arm64" : g.Deno.build.arch;
  }
  return g.process?.arch ?? "";
}

/**
 * The constants of this machine, or `TransportError("Unsupported")` when it
 * is not Linux on x86-64 or arm64.
 */
export function linuxConstants(): LinuxConstants {
  const os = platform();
  if (os !== "linux") {
    throw new TransportError(
      "Unsupported",
      `Cannot use shm: as it needs Linux (mmap + futex); use unix: instead: received ${os || "an unknown platform"}`,
    );
  }
  const a = arch();
  const consts = Object.hasOwn(BY_ARCH, a) ? BY_ARCH[a] : undefined;
  if (consts === undefined) {
    throw new TransportError(
      "Unsupported",
      `Cannot use shm: as this CPU architecture has no futex table here (x64 and arm64 do); use unix: instead: received ${
        a || "an unknown architecture"
      }`,
    );
  }
  return consts;
}

let loading: Promise<Ffi> | undefined;

/**
 * The FFI of the running runtime, loaded on first call (and cached).
 *
 * Fails with `TransportError("Unsupported")` off Linux x86-64/arm64 and on
 * Node when `koffi` cannot be loaded, and with `TransportError("Permission")`
 * on Deno without `--allow-ffi`; each message suggests `unix:`. A failed load
 * is not cached, so a later call tries again.
 *
 * @example Loading the FFI only when `shm:` is used
 * ```ts
 * import { loadFfi } from "./_ffi.ts";
 * try {
 *   const ffi = await loadFfi();
 *   console.log("shm: available on", ffi.runtime);
 * } catch (e) {
 *   console.log((e as Error).message); // e.g. "... run deno with --allow-ffi ... or use unix:"
 * }
 * ```
 */
export function loadFfi(): Promise<Ffi> {
  if (loading === undefined) {
    loading = load();
    loading.catch(() => loading = undefined);
  }
  return loading;
}

async function load(): Promise<Ffi> {
  const consts = linuxConstants();
  switch (runtime) {
    case "deno": {
      const { loadDenoLibc } = await import("./_ffi_deno.ts");
      return makeFfi(loadDenoLibc(), consts, "deno");
    }
    case "bun": {
      const { loadBunLibc } = await import("./_ffi_bun.ts");
      return makeFfi(await loadBunLibc(), consts, "bun");
    }
    case "node": {
      const { loadNodeLibc } = await import("./_ffi_node.ts");
      return makeFfi(await loadNodeLibc(), consts, "node");
    }
  }
}
