/**
 * The Deno backend of `shm:`'s FFI: libc through `Deno.dlopen` (stable in
 * Deno 2; needs `--allow-ffi`). Imported only by `loadFfi()` on Deno.
 * @module
 */
import { TransportError } from "../../errors.ts";
import { DIRENT_NAME_OFFSET, DIRENT_TYPE_OFFSET, type DirEntry, type Libc, type Mapping } from "./_ffi.ts";

/** The part of Deno's FFI API used here (declared, so that tsc checks this file without Deno's types). */
interface DenoFfi {
  dlopen(path: string, symbols: Record<string, { parameters: string[]; result: string }>): {
    symbols: Record<string, (...args: unknown[]) => unknown>;
  };
  permissions: { querySync(p: { name: "ffi" }): { state: string } };
  UnsafePointer: { value(p: unknown): number | bigint; create(v: bigint): unknown };
  UnsafePointerView: {
    new (
      p: unknown,
    ): { getInt32(offset?: number): number; getUint8(offset?: number): number; getCString(offset?: number): string };
    getArrayBuffer(p: unknown, length: number, offset?: number): ArrayBuffer;
  };
}

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  posix_fallocate: { parameters: ["i32", "i64", "i64"], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  mmap: { parameters: ["usize", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["usize", "usize"], result: "i32" },
  unlink: { parameters: ["buffer"], result: "i32" },
  syscall: { parameters: ["i64", "usize", "i64", "i64", "buffer", "i64", "i64"], result: "i64" },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  getpid: { parameters: [], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  opendir: { parameters: ["buffer"], result: "pointer" },
  readdir: { parameters: ["pointer"], result: "pointer" },
  closedir: { parameters: ["pointer"], result: "i32" },
};

/** `(void *)-1`. */
const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

/** libc through `Deno.dlopen`, or `TransportError("Permission")` without `--allow-ffi`. */
export function loadDenoLibc(): Libc {
  const deno = (globalThis as unknown as { Deno: DenoFfi }).Deno;
  const permission = (e?: unknown) =>
    new TransportError(
      "Permission",
      `Cannot use shm: as Deno denies FFI (mmap and futex go through libc); run deno with --allow-ffi ` +
        `(or -A), or use unix: instead: received ${e === undefined ? "ffi permission not granted" : String(e)}`,
      { cause: e },
    );
  if (deno.permissions.querySync({ name: "ffi" }).state !== "granted") throw permission();
  let s: Record<string, (...args: unknown[]) => unknown>;
  try {
    s = deno.dlopen("libc.so.6", SYMBOLS).symbols;
  } catch (e) {
    if ((e as Error)?.name === "NotCapable" || (e as Error)?.name === "PermissionDenied") throw permission(e);
    throw new TransportError(
      "Unsupported",
      `Cannot use shm: as libc.so.6 cannot be opened; use unix: instead: received ${e}`,
      {
        cause: e,
      },
    );
  }
  // errno is thread-local; FFI calls run on this (the JS) thread, so its location is fixed.
  const errnoView = new deno.UnsafePointerView(s.__errno_location());
  const err = (r: unknown): number => {
    const n = Number(r);
    return n < 0 ? -errnoView.getInt32() : n;
  };
  return {
    open: (path, flags, mode) => err(s.open(path, flags, mode)),
    close: (fd) => err(s.close(fd)),
    ftruncate: (fd, length) => err(s.ftruncate(fd, length)),
    fallocate: (fd, offset, length) => 0 - (s.posix_fallocate(fd, offset, length) as number),
    lseek: (fd, offset, whence) => err(s.lseek(fd, offset, whence)),
    read: (fd, into) => err(s.read(fd, into, into.length)),
    mmap: (length, fd, prot, flags): Mapping | number => {
      const p = s.mmap(0, length, prot, flags, fd, 0);
      const address = p === null ? MAP_FAILED : BigInt(deno.UnsafePointer.value(p));
      if (address === MAP_FAILED) return -errnoView.getInt32();
      return { buffer: deno.UnsafePointerView.getArrayBuffer(p, length), address: Number(address) };
    },
    munmap: (address, length) => err(s.munmap(address, length)),
    unlink: (path) => err(s.unlink(path)),
    syscall4: (nr, a1, a2, a3, timeout) => err(s.syscall(nr, a1, a2, a3, timeout, 0, 0)),
    kill: (pid, signal) => err(s.kill(pid, signal)),
    getpid: () => s.getpid() as number,
    listDir: (path): DirEntry[] | number => {
      const dir = s.opendir(path);
      if (dir === null) return -errnoView.getInt32();
      const entries: DirEntry[] = [];
      try {
        for (let e = s.readdir(dir); e !== null; e = s.readdir(dir)) {
          const view = new deno.UnsafePointerView(e);
          const name = view.getCString(DIRENT_NAME_OFFSET);
          if (name === "." || name === "..") continue;
          entries.push({ name, type: view.getUint8(DIRENT_TYPE_OFFSET) });
        }
      } finally {
        s.closedir(dir);
      }
      return entries;
    },
  };
}
