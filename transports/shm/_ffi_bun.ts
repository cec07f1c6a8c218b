/**
 * The Bun backend of `shm:`'s FFI: libc through `bun:ffi` (built in, no
 * permission). Imported only by `loadFfi()` on Bun.
 * @module
 */
import { TransportError } from "../../errors.ts";
import { DIRENT_NAME_OFFSET, DIRENT_TYPE_OFFSET, type DirEntry, type Libc, type Mapping } from "./_ffi.ts";

/** The part of `bun:ffi` used here (declared: tsc has no types for it). */
interface BunFfi {
  dlopen(path: string, symbols: Record<string, { args: string[]; returns: string }>): {
    symbols: Record<string, (...args: unknown[]) => unknown>;
  };
  toArrayBuffer(pointer: number, offset: number, length: number): ArrayBuffer;
  read: { i32(pointer: number, offset?: number): number; u8(pointer: number, offset?: number): number };
  CString: new (pointer: number, offset?: number) => { toString(): string };
}

/** A specifier held in a variable, so that tsc and `deno check` do not try to resolve it. */
const BUN_FFI = "bun:ffi";

const SYMBOLS = {
  open: { args: ["ptr", "i32", "u32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  ftruncate: { args: ["i32", "i64"], returns: "i32" },
  posix_fallocate: { args: ["i32", "i64", "i64"], returns: "i32" },
  lseek: { args: ["i32", "i64", "i32"], returns: "i64_fast" },
  read: { args: ["i32", "ptr", "u64"], returns: "i64_fast" },
  mmap: { args: ["u64", "u64", "i32", "i32", "i32", "i64"], returns: "u64_fast" },
  munmap: { args: ["u64", "u64"], returns: "i32" },
  unlink: { args: ["ptr"], returns: "i32" },
  syscall: { args: ["i64", "u64", "i64", "i64", "ptr", "i64", "i64"], returns: "i64_fast" },
  kill: { args: ["i32", "i32"], returns: "i32" },
  getpid: { args: [], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
  opendir: { args: ["ptr"], returns: "ptr" },
  readdir: { args: ["ptr"], returns: "ptr" },
  closedir: { args: ["ptr"], returns: "i32" },
};

/** libc through `bun:ffi`. */
export async function loadBunLibc(): Promise<Libc> {
  let ffi: BunFfi;
  let s: Record<string, (...args: unknown[]) => unknown>;
  try {
    ffi = await import(BUN_FFI) as BunFfi;
    s = ffi.dlopen("libc.so.6", SYMBOLS).symbols;
  } catch (e) {
    throw new TransportError(
      "Unsupported",
      `Cannot use shm: as bun:ffi cannot open libc.so.6; use unix: instead: received ${e}`,
      {
        cause: e,
      },
    );
  }
  // errno is thread-local; FFI calls run on this (the JS) thread, so its location is fixed.
  const errnoAt = s.__errno_location() as number;
  const errno = () => ffi.read.i32(errnoAt, 0);
  const err = (r: unknown): number => {
    const n = Number(r);
    return n < 0 ? -errno() : n;
  };
  return {
    open: (path, flags, mode) => err(s.open(path, flags, mode)),
    close: (fd) => err(s.close(fd)),
    ftruncate: (fd, length) => err(s.ftruncate(fd, length)),
    fallocate: (fd, offset, length) => 0 - (s.posix_fallocate(fd, offset, length) as number),
    lseek: (fd, offset, whence) => err(s.lseek(fd, offset, whence)),
    read: (fd, into) => err(s.read(fd, into, into.length)),
    mmap: (length, fd, prot, flags): Mapping | number => {
      const address = Number(s.mmap(0, length, prot, flags, fd, 0));
      // MAP_FAILED is (void *)-1: as an unsigned number, far above any user-space address.
      if (address >= 2 ** 63) return -errno();
      // JavaScriptCore counts an ArrayBuffer's whole byteLength as live heap, and a heap that
      // large lets gigabytes of garbage pile up before it collects: so the whole-length buffer
      // is made only if asked for, and a region views just what it committed (`view`)
      let whole: ArrayBuffer | undefined;
      return {
        address,
        get buffer(): ArrayBuffer {
          return whole ??= ffi.toArrayBuffer(address, 0, length);
        },
        view: (bytes: number): ArrayBuffer => ffi.toArrayBuffer(address, 0, bytes),
      };
    },
    munmap: (address, length) => err(s.munmap(address, length)),
    unlink: (path) => err(s.unlink(path)),
    syscall4: (nr, a1, a2, a3, timeout) => err(s.syscall(nr, a1, a2, a3, timeout, 0, 0)),
    kill: (pid, signal) => err(s.kill(pid, signal)),
    getpid: () => s.getpid() as number,
    listDir: (path): DirEntry[] | number => {
      const dir = s.opendir(path) as number | null;
      if (!dir) return -errno();
      const entries: DirEntry[] = [];
      try {
        for (let e = s.readdir(dir) as number | null; e; e = s.readdir(dir) as number | null) {
          const name = new ffi.CString(e, DIRENT_NAME_OFFSET).toString();
          if (name === "." || name === "..") continue;
          entries.push({ name, type: ffi.read.u8(e, DIRENT_TYPE_OFFSET) });
        }
      } finally {
        s.closedir(dir);
      }
      return entries;
    },
  };
}
