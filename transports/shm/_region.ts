/**
 * A region of memory shared between processes: a file in `/dev/shm` mapped
 * `MAP_SHARED` through the FFI, with a futex on any of its 32-bit words.
 *
 * **Reserve, then commit.** `create` sizes the file to `maxBytes` with
 * `ftruncate` (tmpfs files are sparse: nothing is allocated), maps all of it
 * once, and commits `initialBytes` with `posix_fallocate`. `grow` commits
 * more. The mapping never moves, so views made of {@linkcode ShmRegion.buffer}
 * stay valid while the region grows. On Bun the JavaScript side sees only
 * what is committed: JavaScriptCore counts an `ArrayBuffer`'s whole
 * `byteLength` as live heap, and over a 1 GiB reservation it let gigabytes
 * of garbage pile up before collecting (docs/decisions.md). There `buffer`
 * covers the committed bytes (`minBytes` for a handle from `open`), and a
 * growth makes a longer buffer over the same memory, which `i32`, `u8` and
 * the heap's growth hook hand out; elsewhere `buffer` is the whole mapping.
 * Committing is what keeps a full
 * `/dev/shm` from killing the process: writing to a sparse page of a full
 * tmpfs raises SIGBUS, while `posix_fallocate` returns ENOSPC, which `grow`
 * turns into a `CapacityError`. Touch only committed bytes.
 *
 * **Files.** Created with `O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC` and mode 0600:
 * a name already taken fails (`SharedMemoryError("Exists")`, no squatting), a
 * symbolic link planted at the name is never followed, and other users cannot
 * open the file. `open` maps exactly the file's current size (never past its
 * end, which would be a SIGBUS). The file stays until `unlink`; mappings
 * outlive it.
 *
 * **Waiting.** `wait`/`notify` are a shared futex on the word at `index`:
 * they work across processes and runtimes, and replace `Atomics.wait`/
 * `notify`, which do nothing across processes (the buffer is not a
 * `SharedArrayBuffer`). Every index is checked against the mapping before it
 * becomes an address. The mapping is registered with the waiting kernel
 * (sync/_kernel.ts), so the engines' waits and wakes on any view of
 * {@linkcode ShmRegion.buffer} are these futex calls (sync) and the relay's
 * (async): every engine runs over a region unchanged.
 *
 * **Trust.** Any process of the same user can write the region: offsets read
 * from it must be validated before use, as `wait`/`notify` do.
 *
 * @example Two handles on one region, in one process
 * ```ts
 * import { loadFfi } from "./_ffi.ts";
 * import { ShmRegion } from "./_region.ts";
 * const ffi = await loadFfi();
 * using a = ShmRegion.create(ffi, { maxBytes: 1 << 20, initialBytes: 4096 });
 * using b = ShmRegion.open(ffi, a.name);
 * Atomics.add(a.i32, 0, 1);
 * console.log(Atomics.load(b.i32, 0)); // 1
 * a.unlink();
 * ```
 * @module
 */
import { CapacityError, SharedMemoryError, TransportError } from "../../errors.ts";
import { Errno, type Ffi, type FutexWaitResult, MAX_MAP_BYTES } from "./_ffi.ts";
import { selfIdentity } from "./_liveness.ts";
import { registerForeignBuffer } from "../../sync/_kernel.ts";
import { registerForeignGrowth } from "../../structures/_heap.ts";
import { regionWaiter } from "./_waiter.ts";

/** Where region files live. */
export const SHM_DIR = "/dev/shm";

/** The largest reservation: the largest buffer a runtime gives over foreign memory (see `MAX_MAP_BYTES`). */
export const MAX_REGION_BYTES = MAX_MAP_BYTES;

/** A region name: a file name in `/dev/shm`, without `/`, not starting with `.`. */
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$/;

/** Options of {@linkcode ShmRegion.create}. */
export interface ShmRegionOptions {
  /** The file name in `/dev/shm`; default `procshare-<pid>-<starttime>-<random>`. */
  readonly name?: string;
  /** The reservation: the file's size and the mapping's length. A positive multiple of 4. */
  readonly maxBytes: number;
  /** Bytes committed at once (`posix_fallocate`), from 0 to `maxBytes`. */
  readonly initialBytes: number;
}

function checkName(name: string): void {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new TypeError(
      `Cannot use shm region name as it must be 1-200 characters of A-Z, a-z, 0-9, '.', '_', '-' and not start with '.': received ${
        JSON.stringify(name)
      }`,
    );
  }
}

function checkBytes(what: string, bytes: number, max: number): void {
  if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > max) {
    throw new RangeError(
      `Cannot create shm region as '${what}' must be an integer from 0 to ${max}: received ${bytes}`,
    );
  }
}

/** The typed error of a failed `open`/`create` of `name`. */
function openError(errno: number, verb: "create" | "open", name: string): Error {
  const what = `Cannot ${verb} shm region`;
  switch (errno) {
    case Errno.EEXIST:
      return new SharedMemoryError("Exists", `${what} as the name is taken: received ${name}`);
    case Errno.ENOENT:
      return new SharedMemoryError("NotFound", `${what} as no region has that name: received ${name}`);
    case Errno.ELOOP:
      return new TransportError(
        "Permission",
        `${what} as its name is a symbolic link, which is never followed: received ${name}`,
      );
    case Errno.EACCES:
    case Errno.EPERM:
      return new TransportError(
        "Permission",
        `${what} as its file belongs to another user or is not 0600: received ${name}`,
      );
    default:
      return new SharedMemoryError(
        "Unavailable",
        `${what} as the system refused it (errno ${errno}): received ${name}`,
      );
  }
}

/** A random suffix, 8 hex digits. */
export function randomSuffix(): string {
  const b = crypto.getRandomValues(new Uint8Array(4));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * A mapped `/dev/shm` file. Create one with {@linkcode ShmRegion.create},
 * attach to one with {@linkcode ShmRegion.open}.
 */
export class ShmRegion implements Disposable {
  /** The file name in `/dev/shm`. */
  readonly name: string;
  /** The reservation: the mapping's length in bytes. */
  readonly maxBytes: number;
  readonly #ffi: Ffi;
  readonly #address: number;
  #fd: number;
  #buffer: ArrayBuffer;
  /** The longest buffer over the mapping so far (`#buffer` where the backend has no `view`). */
  #current: ArrayBuffer;
  /** The backend's partial views (Bun), else undefined. */
  readonly #view: ((bytes: number) => ArrayBuffer) | undefined;
  /** The longer buffers made since, detached by `close`. */
  readonly #longer: WeakRef<ArrayBuffer>[] = [];
  readonly #waiter: ReturnType<typeof regionWaiter>;
  #i32: Int32Array;
  #u8: Uint8Array;
  #committed: number;

  private constructor(ffi: Ffi, name: string, fd: number, maxBytes: number, committed: number, cover: number) {
    const mapping = ffi.mmap(maxBytes, fd);
    if (typeof mapping === "number") {
      ffi.close(fd);
      throw new SharedMemoryError(
        "Unavailable",
        `Cannot map shm region as mmap failed (errno ${-mapping}): received ${name} of ${maxBytes} bytes`,
      );
    }
    this.#ffi = ffi;
    this.name = name;
    this.#fd = fd;
    this.maxBytes = maxBytes;
    this.#address = mapping.address;
    this.#view = mapping.view;
    const buffer = this.#view === undefined ? mapping.buffer : this.#view(Math.min(maxBytes, Math.max(4, cover)));
    this.#buffer = this.#current = buffer;
    this.#i32 = new Int32Array(buffer, 0, buffer.byteLength >> 2);
    this.#u8 = new Uint8Array(buffer);
    this.#committed = committed;
    // the engines' waits and wakes on views of this mapping go through the futex (transports/shm/_waiter.ts)
    this.#waiter = regionWaiter(this);
    registerForeignBuffer(buffer, this.#waiter);
    registerForeignGrowth(buffer, {
      commit: (bytes) => {
        this.grow(bytes);
        return this.#current;
      },
    });
  }

  /** Where the backend views part of the mapping (Bun): a buffer over at least `bytes`, for `i32`, `u8` and the heap. */
  #cover(bytes: number): void {
    if (this.#view === undefined || bytes <= this.#current.byteLength) return;
    const b = this.#view(Math.min(this.maxBytes, bytes));
    registerForeignBuffer(b, this.#waiter);
    this.#longer.push(new WeakRef(b));
    this.#current = b;
    this.#i32 = new Int32Array(b, 0, b.byteLength >> 2);
    this.#u8 = new Uint8Array(b);
  }

  /** The default name: `procshare-<pid>-<starttime>-<random>`, which lets a sweeper tell a dead creator's files. */
  static defaultName(ffi: Ffi): string {
    const me = selfIdentity(ffi);
    return `procshare-${me.pid}-${me.startTime}-${randomSuffix()}`;
  }

  /**
   * Creates a new region file (exclusively, mode 0600), reserves `maxBytes`,
   * maps it and commits `initialBytes`. Fails with `SharedMemoryError("Exists")`
   * when the name is taken (a symbolic link included), `CapacityError` when
   * `/dev/shm` cannot hold `initialBytes` (the file is removed then).
   */
  static create(ffi: Ffi, options: ShmRegionOptions): ShmRegion {
    const { maxBytes, initialBytes } = options;
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0 || maxBytes % 4 !== 0 || maxBytes > MAX_REGION_BYTES) {
      throw new RangeError(
        `Cannot create shm region as 'maxBytes' must be a positive multiple of 4 up to 2^32: received ${maxBytes}`,
      );
    }
    checkBytes("initialBytes", initialBytes, maxBytes);
    const name = options.name ?? ShmRegion.defaultName(ffi);
    checkName(name);
    const c = ffi.consts;
    const path = `${SHM_DIR}/${name}`;
    const fd = ffi.open(path, c.O_RDWR | c.O_CREAT | c.O_EXCL | c.O_NOFOLLOW | c.O_CLOEXEC, 0o600);
    if (fd < 0) throw openError(-fd, "create", name);
    let region: ShmRegion | undefined;
    try {
      const r = ffi.ftruncate(fd, maxBytes);
      if (r < 0) {
        throw new SharedMemoryError(
          "Unavailable",
          `Cannot reserve shm region as ftruncate failed (errno ${-r}): received ${maxBytes}`,
        );
      }
      region = new ShmRegion(ffi, name, fd, maxBytes, 0, initialBytes);
      region.grow(initialBytes);
      return region;
    } catch (e) {
      if (region !== undefined) region.close();
      else ffi.close(fd);
      ffi.unlink(path);
      throw e;
    }
  }

  /**
   * Opens and maps an existing region by name: `SharedMemoryError("NotFound")`
   * when there is none, `TransportError("Permission")` when the name is a
   * symbolic link or another user's file. Its size is read before mapping,
   * and only that size is mapped. `minBytes` (what the handle being attached
   * says the region holds) refuses a file shorter than that; on Bun it is
   * also what `buffer` covers (the whole file without it), and a heap over
   * the region covers more as it finds the region grown.
   */
  static open(ffi: Ffi, name: string, options?: { readonly minBytes?: number }): ShmRegion {
    checkName(name);
    const c = ffi.consts;
    const fd = ffi.open(`${SHM_DIR}/${name}`, c.O_RDWR | c.O_NOFOLLOW | c.O_CLOEXEC, 0);
    if (fd < 0) throw openError(-fd, "open", name);
    const size = ffi.fileSize(fd);
    const min = Math.max(4, options?.minBytes ?? 4);
    if (size < min || size % 4 !== 0 || size > MAX_REGION_BYTES) {
      ffi.close(fd);
      throw new SharedMemoryError(
        "Unavailable",
        `Cannot open shm region as its file is not a region of at least ${min} bytes (multiple of 4): received ${name} of ${
          size < 0 ? `unknown size (errno ${-size})` : `${size} bytes`
        }`,
      );
    }
    return new ShmRegion(ffi, name, fd, size, 0, options?.minBytes === undefined ? size : min);
  }

  /**
   * The mapping's start address in this process: every thread of the process
   * sees the mapping there, so a futex on `address + 4 * index` can be
   * waited on by another thread (the async-wait relay, transports/shm/_relay.ts).
   */
  get address(): number {
    return this.#address;
  }

  /** The path of the file: `/dev/shm/<name>`. */
  get path(): string {
    return `${SHM_DIR}/${this.name}`;
  }

  /**
   * The mapping (a plain `ArrayBuffer`, not a copy), the same one for the
   * handle's life: the whole reservation, except on Bun, where it covers what
   * was committed when the handle was made (see the module's doc). Detached
   * by `close`.
   */
  get buffer(): ArrayBuffer {
    return this.#buffer;
  }

  /** The mapping as 32-bit words, for `Atomics` and `wait`/`notify` indexes (on Bun: the committed ones). */
  get i32(): Int32Array {
    return this.#i32;
  }

  /** The mapping as bytes (on Bun: the committed ones). */
  get u8(): Uint8Array {
    return this.#u8;
  }

  /** Bytes this handle has committed (`create`'s `initialBytes`, then `grow`); 0 for a handle from `open`. */
  get committed(): number {
    return this.#committed;
  }

  /** True once `close` ran. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  #check(what: string): void {
    if (this.#fd < 0) {
      throw new SharedMemoryError("Closed", `Cannot ${what} as the shm region is closed: received ${this.name}`);
    }
  }

  /**
   * Commits the first `bytes` bytes (`posix_fallocate`), so that touching them
   * can never SIGBUS. Committing what is committed already does nothing; any
   * process may grow a region. `CapacityError` past `maxBytes` or when
   * `/dev/shm` is full (ENOSPC); what was committed before stays usable.
   */
  grow(bytes: number): void {
    this.#check("grow shm region");
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new RangeError(`Cannot grow shm region as 'bytes' must be a non-negative integer: received ${bytes}`);
    }
    if (bytes > this.maxBytes) {
      throw new CapacityError(
        "Full",
        `Cannot grow shm region past its maxBytes of ${this.maxBytes}: received ${bytes}`,
      );
    }
    if (bytes <= this.#committed) return;
    const r = this.#ffi.fallocate(this.#fd, 0, bytes);
    if (r === -Errno.ENOSPC) {
      throw new CapacityError(
        "Full",
        `Cannot grow shm region as ${SHM_DIR} has no space left (ENOSPC): received ${bytes}`,
      );
    }
    if (r < 0) {
      throw new SharedMemoryError(
        "Unavailable",
        `Cannot grow shm region as posix_fallocate failed (errno ${-r}): received ${bytes}`,
      );
    }
    this.#committed = bytes;
    this.#cover(bytes);
  }

  #address32(what: string, index: number): number {
    this.#check(what);
    if (!Number.isInteger(index) || index < 0 || index >= this.#i32.length) {
      throw new RangeError(
        `Cannot ${what} as the index is outside the region's ${this.#i32.length} words: received ${index}`,
      );
    }
    return this.#address + index * 4;
  }

  /**
   * Blocks while `i32[index]` holds `value`, at most `timeoutMs` (`Infinity`
   * by default) or until a `notify` on that index from any process. Returns
   * `"mismatch"` at once when the word holds another value, `"timeout"` when
   * the time elapsed, `"ok"` when woken (possibly spuriously: re-check the
   * word, as with every futex).
   */
  wait(index: number, value: number, timeoutMs: number = Infinity): FutexWaitResult {
    const address = this.#address32("wait on shm region", index);
    if (typeof timeoutMs !== "number" || Number.isNaN(timeoutMs) || timeoutMs < 0) {
      throw new RangeError(
        `Cannot wait on shm region as 'timeoutMs' must be a non-negative number: received ${timeoutMs}`,
      );
    }
    return this.#ffi.futexWait(address, value, timeoutMs);
  }

  /** Wakes up to `count` (default all) processes waiting on `i32[index]`; returns how many woke. */
  notify(index: number, count: number = Infinity): number {
    const address = this.#address32("notify on shm region", index);
    const n = count === Infinity ? 0x7fffffff : count;
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(`Cannot notify on shm region as 'count' must be a non-negative integer: received ${count}`);
    }
    const r = this.#ffi.futexWake(address, Math.min(n, 0x7fffffff));
    return r < 0 ? 0 : r;
  }

  /**
   * Unmaps the region and closes the file (the file stays: see `unlink`).
   * The buffer and every view made of it are detached first on Deno and
   * Bun, so that a late access reads nothing; on Node 20 the buffer cannot
   * be detached without a copy, and touching a view after `close` faults on
   * unmapped memory: drop every view first. Idempotent.
   */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    detach(this.#buffer);
    for (const b of this.#longer) {
      const longer = b.deref();
      if (longer !== undefined) detach(longer);
    }
    this.#ffi.munmap(this.#address, this.maxBytes);
    this.#ffi.close(fd);
    this.#buffer = this.#current = new ArrayBuffer(0);
    this.#i32 = new Int32Array(0);
    this.#u8 = new Uint8Array(0);
  }

  /**
   * Removes the file: its name is free again and new `open`s fail with
   * NotFound; existing mappings (this one included) keep working. Returns
   * false when the file was already gone.
   */
  unlink(): boolean {
    const r = this.#ffi.unlink(this.path);
    if (r === 0) return true;
    if (r === -Errno.ENOENT) return false;
    throw new SharedMemoryError(
      "Unavailable",
      `Cannot unlink shm region as unlink failed (errno ${-r}): received ${this.name}`,
    );
  }

  /** `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Detaches `buffer` (its views then read as empty) where the runtime can:
 * `transfer(0)` copies nothing and detaches (Deno, Bun). Node 20 has no
 * `transfer`, and `structuredClone` with a transfer list *copies* a koffi
 * view (30 s and every page touched for 2 GiB), so nothing is done there.
 */
function detach(buffer: ArrayBuffer): void {
  const transfer = (buffer as { transfer?: (length: number) => ArrayBuffer }).transfer;
  if (typeof transfer !== "function") return;
  try {
    transfer.call(buffer, 0);
  } catch {
    // not detachable here: the caller must not use views after close
  }
}
