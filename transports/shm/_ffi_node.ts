/**
 * The Node backend of `shm:`'s FFI: libc through `koffi`, an optional
 * dependency (a prebuilt N-API binary; no compiler, no install script).
 * Imported only by `loadFfi()` on Node.
 * @module
 */
import { TransportError } from "../../errors.ts";
import { DIRENT_NAME_OFFSET, DIRENT_TYPE_OFFSET, type DirEntry, type Libc, type Mapping } from "./_ffi.ts";

/** The part of koffi's API used here. */
interface Koffi {
  load(path: string): { func(signature: string): (...args: unknown[]) => unknown };
  view(pointer: unknown, length: number): ArrayBuffer;
  address(pointer: unknown): bigint;
  errno(): number;
  decode(pointer: unknown, offset: number, type: string, length?: number): unknown;
}

/** A specifier held in a variable, so that tsc and `deno check` do not resolve the optional package. */
const KOFFI = "koffi";

/** `(void *)-1`. */
const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

/** libc through koffi, or `TransportError("Unsupported")` when koffi cannot be loaded. */
export async function loadNodeLibc(): Promise<Libc> {
  let koffi: Koffi;
  let lib: ReturnType<Koffi["load"]>;
  try {
    const mod = await import(KOFFI) as { default?: Koffi } & Koffi;
    koffi = mod.default ?? mod;
    lib = koffi.load("libc.so.6");
  } catch (e) {
    throw new TransportError(
      "Unsupported",
      `Cannot use shm: as koffi cannot be loaded (it is an optional dependency of procshare; install it with ` +
        `'npm install koffi'); use unix: instead: received ${(e as Error)?.message ?? String(e)}`,
      { cause: e },
    );
  }
  const open = lib.func("int open(const void *path, int flags, uint32_t mode)");
  const close = lib.func("int close(int fd)");
  const ftruncate = lib.func("int ftruncate(int fd, int64_t length)");
  const fallocate = lib.func("int posix_fallocate(int fd, int64_t offset, int64_t length)");
  const lseek = lib.func("int64_t lseek(int fd, int64_t offset, int whence)");
  const read = lib.func("intptr_t read(int fd, void *buf, size_t count)");
  const mmap = lib.func("void *mmap(intptr_t addr, size_t length, int prot, int flags, int fd, int64_t offset)");
  const munmap = lib.func("int munmap(intptr_t addr, size_t length)");
  const unlink = lib.func("int unlink(const void *path)");
  // Declared with a fixed arity (not variadic): fine on x86-64 and arm64 for integer arguments.
  const syscall = lib.func("long syscall(long nr, intptr_t a1, long a2, long a3, void *a4, long a5, long a6)");
  const kill = lib.func("int kill(int pid, int sig)");
  const getpid = lib.func("int getpid()");
  const opendir = lib.func("void *opendir(const void *path)");
  const readdir = lib.func("void *readdir(void *dir)");
  const closedir = lib.func("int closedir(void *dir)");
  const err = (r: unknown): number => {
    const n = Number(r);
    return n < 0 ? -koffi.errno() : n;
  };
  return {
    open: (path, flags, mode) => err(open(path, flags, mode)),
    close: (fd) => err(close(fd)),
    ftruncate: (fd, length) => err(ftruncate(fd, length)),
    fallocate: (fd, offset, length) => 0 - (fallocate(fd, offset, length) as number),
    lseek: (fd, offset, whence) => err(lseek(fd, offset, whence)),
    read: (fd, into) => err(read(fd, into, into.length)),
    mmap: (length, fd, prot, flags): Mapping | number => {
      const p = mmap(0, length, prot, flags, fd, 0);
      const address = p === null ? MAP_FAILED : koffi.address(p);
      if (address === MAP_FAILED) return -koffi.errno();
      return { buffer: koffi.view(p, length), address: Number(address) };
    },
    munmap: (address, length) => err(munmap(address, length)),
    unlink: (path) => err(unlink(path)),
    syscall4: (nr, a1, a2, a3, timeout) => err(syscall(nr, a1, a2, a3, timeout, 0, 0)),
    kill: (pid, signal) => err(kill(pid, signal)),
    getpid: () => getpid() as number,
    listDir: (path): DirEntry[] | number => {
      const dir = opendir(path);
      if (dir === null) return -koffi.errno();
      const entries: DirEntry[] = [];
      try {
        for (let e = readdir(dir); e !== null; e = readdir(dir)) {
          const name = koffi.decode(e, DIRENT_NAME_OFFSET, "char", -1) as string;
          if (name === "." || name === "..") continue;
          entries.push({ name, type: koffi.decode(e, DIRENT_TYPE_OFFSET, "uint8_t") as number });
        }
      } finally {
        closedir(dir);
      }
      return entries;
    },
  };
}
