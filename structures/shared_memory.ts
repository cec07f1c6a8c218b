/**
 * Named blocks of shared bytes: Python's
 * `multiprocessing.shared_memory.SharedMemory`, for the threads of one
 * process (shared buffer) or, through a manager, for every process connected
 * to it.
 *
 * ## How a name reaches another thread
 *
 * A SharedArrayBuffer reaches another thread only by message, so "attach by
 * name" has two halves:
 *
 * 1. **The name registry**: one growable SharedArrayBuffer per process
 *    ({@linkcode Registry}) maps each live name to a slot, a generation and
 *    a size, under a robust mutex. Creating, looking up and unlinking a name
 *    are synchronous and atomic for every thread that has the registry. The
 *    main thread creates it; other threads adopt it from any SharedMemory or
 *    ShareableList handle they receive, or ask for it once on the channel
 *    (`_shm_names.ts`).
 * 2. **The memory**: each thread keeps the blocks it created or attached (by
 *    `(slot, generation)`) until it learns they were unlinked. A thread that
 *    needs a block it has never seen asks on a `BroadcastChannel`; any thread
 *    that holds it answers with the SharedArrayBuffer. The main thread keeps
 *    every block created in the process, so a block outlives the thread that
 *    made it, as a file in `/dev/shm` outlives its creator, until `unlink()`.
 *
 * `unlink()` frees the name at once (a later attach fails with
 * `SharedMemoryError("NotFound")`, a new block may take the name) and tells
 * every thread to forget the block; instances still attached keep using the
 * same memory, which the garbage collector frees once the last is gone.
 *
 * A thread joins the channel on its first use of shared memory (nothing
 * happens at import): the main thread when it creates the registry, a worker
 * when it adopts it or first asks for something.
 *
 * ## Across processes: a manager on `shm:`
 *
 * A block made by `Manager.sharedMemory` (or `Manager.shareableList`) on a
 * manager started with `{ transport: "shm:" }` is *portable*
 * ({@linkcode SharedMemoryEngine.portable}): its memory is one region of
 * `/dev/shm` that every process using it maps (no copies), and its name
 * lives in the manager's names, shared by every process, never in the
 * process registry above. So a process that `Manager.connect`s attaches it
 * by name with `m.sharedMemory(undefined, { name })` (Python's
 * `SharedMemory(name)`), and a block passed to
 * `spawn(url, { as: "process", args })` attaches in the child. A word after
 * the block's bytes records `unlink()`: the first one, in any process, frees
 * the manager's name (if it still names this block) and a second fails with
 * `"NotFound"`; instances attached keep the memory. The manager's shutdown
 * unlinks the regions.
 *
 * Limits: the names of `SharedMemory.create` and `attach` live within one
 * process (a child process has its own: across processes, use a manager on
 * `shm:`, whose blocks `SharedMemory.attach` does not see); an attach of a
 * block this thread has never held waits for some holder's event loop to
 * answer (the main thread's, normally), so it is asynchronous, and it fails
 * with `SharedMemoryError("Timeout")` when every holder is blocked or gone
 * (its `timeout`, 5 s by default); `attachSync` works only for blocks the
 * thread already holds; and a worker that asks for the registry before the
 * main thread ever used shared memory gets no answer (`"Timeout"`), as the
 * main thread is not listening yet.
 * @module
 */
import type { Backend, Handle } from "../core/backend.ts";
import { defineStructure, Shared } from "../core/structure.ts";
import { abortedError, CapacityError, SharedMemoryError } from "../errors.ts";
import { registryBuffer } from "../transports/_runtime/threads.ts";
import { describe } from "./_typecodes.ts";
import {
  adoptNames,
  announceCreated,
  announceUnlinked,
  type AttachOptions,
  fetchBlock,
  forgetForeignName,
  heldBlock,
  holdBlock,
  lookupOrThrow,
  nameBytes,
  notFound,
  obtainRegistry,
  Registry,
  type RegistryEntry,
  syncRegistry,
} from "./_shm_names.ts";

export {
  type AttachOptions,
  DEFAULT_ATTACH_TIMEOUT,
  liveNames,
  MAX_NAME_BYTES,
  MAX_NAMES,
  Registry,
  type RegistryEntry,
} from "./_shm_names.ts";
export { SharedMemoryError, type SharedMemoryErrorReason } from "../errors.ts";

function checkSize(size: unknown, what: string): number {
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size <= 0) {
    throw new TypeError(`Cannot ${what} as 'size' must be a positive integer: received ${describe(size)}`);
  }
  return size;
}

function allocate(size: number, what: string): SharedArrayBuffer {
  try {
    return new SharedArrayBuffer(size);
  } catch (e) {
    throw new CapacityError(
      "Full",
      `Cannot ${what} as ${size} bytes of shared memory cannot be allocated: received ${size}`,
      {
        cause: e,
      },
    );
  }
}

function randomName(): string {
  return `psm_${Math.floor(Math.random() * 2 ** 32).toString(16).padStart(8, "0")}`;
}

/**
 * Byte offset of a portable block's trailer word, after its `size` bytes
 * (rounded up to 4): {@linkcode TRAILER_LIVE} until the first `unlink`
 * stores {@linkcode TRAILER_UNLINKED}, so a second one fails in any process.
 */
function trailerAt(size: number): number {
  return Math.ceil(size / 4) * 4;
}
/** Bytes of the trailer. */
const TRAILER_BYTES = 4;
/** Trailer word: the block was never unlinked. */
const TRAILER_LIVE = 0;
/** Trailer word: the block was unlinked. */
const TRAILER_UNLINKED = 1;

/**
 * The shared-memory engine of a block: its registry entry and its bytes.
 * The manager server hosts it; {@linkcode SharedMemory} wraps it.
 *
 * A *portable* engine ({@linkcode SharedMemoryEngine.portable}, no
 * registry) is the block of a manager on `shm:`: its name lives in the
 * manager (`manager`, the region of its names), its memory is a region
 * every process maps, and a trailer word after the bytes records `unlink`.
 *
 * @example Using the engine directly
 * ```ts
 * import { Registry, SharedMemoryEngine } from "./shared_memory.ts";
 * const e = SharedMemoryEngine.create(Registry.create(), "raw", 4);
 * e.write(1, new Uint8Array([7]));
 * console.log(e.read(), e.describe()); // Uint8Array(4) [ 0, 7, 0, 0 ] { name: "raw", size: 4 }
 * e.unlink();
 * ```
 *
 * @internal
 */
export class SharedMemoryEngine {
  readonly u8: Uint8Array;
  constructor(
    /** The process's name registry; undefined for a portable block (named by its manager). */
    readonly registry: Registry | undefined,
    readonly name: string,
    readonly entry: RegistryEntry,
    readonly buffer: ArrayBufferLike,
    /** A portable block's manager (the `manager` of its handle), which keeps its name. */
    readonly manager?: string,
  ) {
    this.u8 = new Uint8Array(buffer, 0, entry.size);
  }

  /**
   * A portable block, in no registry: `size` bytes and a trailer word, named
   * `name` or (undefined) a fresh `psm_…` name. The `shm:` transport copies
   * it into a region and opens it over the mappings (see
   * {@linkcode engineFromHandle}).
   */
  static portable(name: unknown, size: unknown): SharedMemoryEngine {
    const n = checkSize(size, "create shared memory");
    if (name !== undefined) nameBytes(name, "create shared memory");
    const buffer = allocate(trailerAt(n) + TRAILER_BYTES, "create shared memory");
    return new SharedMemoryEngine(undefined, (name as string | undefined) ?? randomName(), {
      slot: -1,
      gen: 0,
      size: n,
    }, buffer);
  }

  /** Creates a block, named or (`name` undefined) with a fresh `psm_…` name. */
  static create(r: Registry, name: string | undefined, size: unknown): SharedMemoryEngine {
    const n = checkSize(size, "create shared memory");
    if (name !== undefined) nameBytes(name, "create shared memory");
    const buffer = allocate(n, "create shared memory");
    for (;;) {
      const nm = name ?? randomName();
      let entry: RegistryEntry;
      try {
        entry = r.claim(nm, n);
      } catch (e) {
        if (name === undefined && e instanceof SharedMemoryError && e.reason === "Exists") continue;
        throw e;
      }
      announceCreated(entry.slot, entry.gen, buffer);
      return new SharedMemoryEngine(r, nm, entry, buffer);
    }
  }

  /** The block named `name` if this thread holds its memory; `NotFound` or `Unavailable` otherwise. */
  static attachHeld(r: Registry, name: string, what: string): SharedMemoryEngine {
    const entry = lookupOrThrow(r, name, what);
    const buffer = heldBlock(entry.slot, entry.gen);
    if (!buffer) {
      throw new SharedMemoryError(
        "Unavailable",
        `Cannot ${what} synchronously as this thread has never held its memory (use the async form): received ${
          JSON.stringify(name)
        }`,
      );
    }
    return new SharedMemoryEngine(r, name, entry, buffer);
  }

  /** The block named `name`, asking the thread holding it when this one does not. */
  static async attach(r: Registry, name: string, what: string, options?: AttachOptions): Promise<SharedMemoryEngine> {
    const entry = lookupOrThrow(r, name, what);
    return new SharedMemoryEngine(r, name, entry, await fetchBlock(r, entry, name, what, options));
  }

  /** A copy of `length` bytes from `offset` (defaults: all of it). */
  read(offset: unknown = 0, length?: unknown): Uint8Array {
    const [s, e] = this.#range(offset, length, "read shared memory");
    return this.u8.slice(s, e);
  }

  /** Copies `bytes` in at `offset`. */
  write(offset: unknown, bytes: unknown): void {
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError(`Cannot write shared memory as 'bytes' must be a Uint8Array: received ${describe(bytes)}`);
    }
    const [s] = this.#range(offset, bytes.length, "write shared memory");
    this.u8.set(bytes, s);
  }

  #range(offset: unknown, length: unknown, what: string): [number, number] {
    const size = this.entry.size;
    if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0 || offset > size) {
      throw new RangeError(
        `Cannot ${what} as 'offset' must be an integer in [0, ${size}]: received ${describe(offset)}`,
      );
    }
    const len = length === undefined ? size - offset : length;
    if (typeof len !== "number" || !Number.isSafeInteger(len) || len < 0 || offset + len > size) {
      throw new RangeError(
        `Cannot ${what} as ${describe(len)} bytes from offset ${offset} exceed the size ${size}: received ${
          describe(len)
        }`,
      );
    }
    return [offset, offset + len];
  }

  /**
   * Frees the name; the memory stays with every instance still attached. A
   * portable block's first unlink (in any process) marks its trailer and
   * has its manager forget the name, if it still names this block.
   */
  unlink(): void {
    if (this.registry === undefined) {
      const trailer = new Int32Array(this.buffer, trailerAt(this.entry.size), 1);
      if (Atomics.compareExchange(trailer, 0, TRAILER_LIVE, TRAILER_UNLINKED) !== TRAILER_LIVE) {
        throw notFound("unlink shared memory", this.name, "it is already unlinked");
      }
      if (this.manager !== undefined) forgetForeignName(this.manager, this.name, this.buffer);
      return;
    }
    const { slot, gen } = this.entry;
    if (!this.registry.release(slot, gen)) throw notFound("unlink shared memory", this.name, "it is already unlinked");
    announceUnlinked(slot, gen);
  }

  describe(): SharedMemoryDescription {
    return { name: this.name, size: this.entry.size };
  }
}

/** What a remote client learns of its block when it attaches. */
export interface SharedMemoryDescription {
  readonly name: string;
  readonly size: number;
}

/**
 * The shared-buffer handle of a SharedMemory: plain data with the block's
 * memory and the process's registries inside, for `postMessage` and `attach`.
 *
 * @example Reading a handle
 * ```ts
 * import { SharedMemory, type SharedMemoryHandle } from "./shared_memory.ts";
 * const shm = SharedMemory.createSync({ size: 8 });
 * const h = shm.handle as SharedMemoryHandle;
 * console.log(h.kind, h.name === shm.name, h.buffer.byteLength); // shared-memory true 8
 * shm.unlinkSync();
 * ```
 */
export interface SharedMemoryHandle extends Handle {
  readonly kind: "shared-memory";
  readonly name: string;
  readonly size: number;
  readonly slot: number;
  readonly gen: number;
  /** The block's memory. */
  readonly buffer: SharedArrayBuffer;
  /** The process's name registry. */
  readonly names: SharedArrayBuffer;
  /** The process's thread registry. */
  readonly registry: SharedArrayBuffer;
}

/**
 * The fields of a portable block's handle (`shm:`): its name, its size and
 * its memory (with the trailer), and the manager that keeps its name. In a
 * handle the buffer is the transport's reference to a region; `open` gets
 * this thread's mapping of it.
 *
 * @example The fields of a block of 8 bytes
 * ```ts
 * import type { BlockFields } from "./shared_memory.ts";
 * const fields: BlockFields = { name: "frame", size: 8, buffer: new ArrayBuffer(12), manager: "procshare-1-2-abcdef01" };
 * console.log(fields.buffer.byteLength); // 12
 * ```
 */
export interface BlockFields {
  readonly name: string;
  readonly size: number;
  readonly buffer: ArrayBufferLike;
  readonly manager?: string;
}

/** What a handle of a block carries besides `kind`, `via` and `registry` (and `manager` on `shm:`). */
function share(e: SharedMemoryEngine) {
  if (e.registry === undefined) return { name: e.name, size: e.entry.size, buffer: e.buffer };
  return {
    name: e.name,
    size: e.entry.size,
    slot: e.entry.slot,
    gen: e.entry.gen,
    buffer: e.buffer as SharedArrayBuffer,
    names: e.registry.buffer,
  };
}

/**
 * @internal The handle of a block (also the core of a ShareableList's handle).
 *
 * @example A block's handle
 * ```ts
 * import { Registry, SharedMemoryEngine, sharedMemoryHandle } from "./shared_memory.ts";
 * const e = SharedMemoryEngine.create(Registry.create(), undefined, 8);
 * console.log(sharedMemoryHandle(e).size); // 8
 * ```
 */
export function sharedMemoryHandle(e: SharedMemoryEngine): SharedMemoryHandle {
  return { kind: "shared-memory", via: "shared-buffer", ...share(e), registry: registryBuffer() } as SharedMemoryHandle;
}

/**
 * @internal Rebuilds the engine of a block from its handle; this thread then
 * holds the block too (and answers other threads asking for it). The thread
 * registry the handle carries is adopted by the transport, not here.
 *
 * @example Rebuilding an engine
 * ```ts
 * import { engineFromHandle, SharedMemory, type SharedMemoryHandle } from "./shared_memory.ts";
 * const shm = SharedMemory.createSync({ size: 8 });
 * console.log(engineFromHandle(shm.handle as SharedMemoryHandle).name === shm.name); // true
 * shm.unlinkSync();
 * ```
 */
export function engineFromHandle(h: SharedMemoryHandle | BlockFields): SharedMemoryEngine {
  if (!("names" in h) || h.names === undefined) return portableFromFields(h);
  const mine = adoptNames(h.names);
  // a handle from another registry (never, within one process) still carries its memory
  const r = mine && mine.buffer === h.names ? mine : new Registry(h.names);
  if (!(h.buffer instanceof SharedArrayBuffer) || h.buffer.byteLength < h.size) {
    throw new TypeError(
      `Cannot attach shared memory as its handle carries no memory of its size: received ${describe(h.buffer)}`,
    );
  }
  holdBlock(r, h.slot, h.gen, h.buffer);
  return new SharedMemoryEngine(r, h.name, { slot: h.slot, gen: h.gen, size: h.size }, h.buffer);
}

/** The engine of a portable block over the memory its fields carry (this thread's mapping, on `shm:`). */
function portableFromFields(h: BlockFields): SharedMemoryEngine {
  const what = "attach shared memory";
  nameBytes(h.name, what);
  const size = checkSize(h.size, what);
  const b: unknown = h.buffer;
  if (
    !(b instanceof ArrayBuffer || b instanceof SharedArrayBuffer) || b.byteLength < trailerAt(size) + TRAILER_BYTES
  ) {
    throw new TypeError(`Cannot ${what} as its handle carries no memory of its size: received ${describe(b)}`);
  }
  const manager = typeof h.manager === "string" ? h.manager : undefined;
  return new SharedMemoryEngine(undefined, h.name, { slot: -1, gen: 0, size }, b, manager);
}

/**
 * @internal Creates a block for a manager (`Manager.sharedMemory(size, {
 * name })`): the manager's name is the block's name, and a name the process
 * already has is opened when this thread holds its memory.
 *
 * @example Opening the same block twice
 * ```ts
 * import { createForManager } from "./shared_memory.ts";
 * const a = createForManager(16, "m-block");
 * const b = createForManager(undefined, "m-block");
 * console.log(a.buffer === b.buffer); // true
 * a.unlink();
 * ```
 */
export function createForManager(size: unknown, name: unknown): SharedMemoryEngine {
  const r = syncRegistry("create shared memory");
  if (name !== undefined) {
    nameBytes(name, "create shared memory");
    if (r.lookup(name as string)) return SharedMemoryEngine.attachHeld(r, name as string, "open shared memory");
  }
  return markCreated(SharedMemoryEngine.create(r, name as string | undefined, size));
}

/** The blocks a manager created (not those it only opened): its shutdown unlinks their names. */
const createdByManager = new WeakSet<SharedMemoryEngine>();

/** @internal Marks a block as created by a manager, so that {@linkcode unlinkCreated} unlinks it. */
export function markCreated(e: SharedMemoryEngine): SharedMemoryEngine {
  createdByManager.add(e);
  return e;
}

/**
 * @internal At a manager's shutdown: unlinks a block it created, unless its
 * name was unlinked already (then a later block of the same name is left
 * alone: the registry entry's generation tells them apart).
 */
export function unlinkCreated(e: SharedMemoryEngine): void {
  if (!createdByManager.delete(e)) return;
  const { slot, gen } = e.entry;
  if (e.registry?.release(slot, gen)) announceUnlinked(slot, gen);
}

/** The operations of a SharedMemory, local and remote. */
const /** @internal */ sharedMemoryOps = {
  describe: (e: SharedMemoryEngine): SharedMemoryDescription => e.describe(),
  read: (e: SharedMemoryEngine, [offset, length]: [number, number | undefined]): Uint8Array => e.read(offset, length),
  write: (e: SharedMemoryEngine, [offset, bytes]: [number, Uint8Array]): void => e.write(offset, bytes),
  unlink: (e: SharedMemoryEngine): void => e.unlink(),
};

/**
 * Options of {@linkcode SharedMemory.create}.
 *
 * @example A named block
 * ```ts
 * import { SharedMemory, type SharedMemoryCreateOptions } from "./shared_memory.ts";
 * const options: SharedMemoryCreateOptions = { name: "pixels", size: 640 * 480 * 4 };
 * const shm = await SharedMemory.create(options);
 * await shm.unlink();
 * ```
 */
export interface SharedMemoryCreateOptions extends AttachOptions {
  /** The block's name; absent: a fresh `psm_…` name. Taken names fail with `SharedMemoryError("Exists")`. */
  readonly name?: string;
  /** Bytes of the block (a positive integer), zero-filled. */
  readonly size: number;
}

/**
 * A named block of shared bytes: Python's `SharedMemory`.
 *
 * Create one with {@linkcode SharedMemory.create} (named or anonymous) and
 * open it elsewhere with {@linkcode SharedMemory.attach}, by name from any
 * thread of the process, or pass it (its handle) to a worker. `buf` is a
 * `Uint8Array` over the shared bytes; `close()` detaches this instance,
 * `unlink()` frees the name for everyone while instances still attached keep
 * the memory (see the module documentation for how names reach threads).
 *
 * **Visibility**: `buf` is plain memory: publish writes with an Atomics
 * operation (on an `Int32Array` over `buf.buffer`) or a lock that the reader
 * then observes.
 *
 * **Transports**: shared buffer (`buf`, the `Sync` calls); a manager on
 * `shm:` (the same, in every process that connects: `buf` is the block's
 * region, names resolve through the manager); and through a manager on a
 * socket (`read`, `write` and `unlink` are remote calls; `buf` is
 * unavailable).
 *
 * @example Creating, attaching by name, unlinking
 * ```ts
 * import { SharedMemory } from "./shared_memory.ts";
 * const a = await SharedMemory.create({ name: "frame", size: 16 });
 * a.buf.set([1, 2, 3]);
 * const b = await SharedMemory.attach("frame");      // in any thread of the process
 * console.log(b.buf.subarray(0, 3), b.size);         // Uint8Array(3) [ 1, 2, 3 ] 16
 * await a.unlink();                                  // the name is gone; a and b keep the memory
 * b.close();
 * a.close();
 * ```
 */
export class SharedMemory extends Shared<SharedMemoryEngine, typeof sharedMemoryOps> implements Disposable {
  #closed = false;
  /** The block's name (Python's `name`). */
  readonly name: string;
  /** Bytes of the block (Python's `size`). */
  readonly size: number;

  /**
   * @internal Use `SharedMemory.create`, `SharedMemory.attach`, `Manager.sharedMemory()` or `attach(handle)`.
   * A remote client passes what the server's `describe` answered.
   */
  constructor(handle: Handle, backend: Backend<SharedMemoryEngine>, described?: SharedMemoryDescription) {
    super(handle, backend, sharedMemoryOps);
    const d = backend.engine?.describe() ?? described;
    if (!d) throw new TypeError("Cannot attach shared memory as its name and size are unknown: received none");
    this.name = d.name;
    this.size = d.size;
  }

  /** @internal Wraps an engine of this thread. */
  static fromEngine(e: SharedMemoryEngine): SharedMemory {
    return new SharedMemory(sharedMemoryHandle(e), { engine: e });
  }

  /**
   * Creates a zero-filled block of `size` bytes, named `name` or (absent) a
   * fresh `psm_…` name. A taken name fails with `SharedMemoryError("Exists")`.
   *
   * @example An anonymous block
   * ```ts
   * import { SharedMemory } from "./shared_memory.ts";
   * using shm = await SharedMemory.create({ size: 1024 });
   * console.log(shm.name.startsWith("psm_"), shm.buf.length); // true 1024
   * await shm.unlink();
   * ```
   */
  static async create(options: SharedMemoryCreateOptions): Promise<SharedMemory> {
    const o = createOptions(options);
    const r = await obtainRegistry("create shared memory", o);
    return SharedMemory.fromEngine(SharedMemoryEngine.create(r, o.name, o.size));
  }

  /**
   * The synchronous twin of {@linkcode SharedMemory.create}: works in the
   * main thread, and in a worker once it has the name registry (from any
   * SharedMemory it received or opened); `SharedMemoryError("Unavailable")`
   * otherwise.
   *
   * @example Creating in the main thread without awaiting
   * ```ts
   * import { SharedMemory } from "./shared_memory.ts";
   * const shm = SharedMemory.createSync({ name: "scratch", size: 64 });
   * shm.unlinkSync();
   * ```
   */
  static createSync(options: SharedMemoryCreateOptions): SharedMemory {
    const o = createOptions(options);
    return SharedMemory.fromEngine(SharedMemoryEngine.create(syncRegistry("create shared memory"), o.name, o.size));
  }

  /**
   * Opens the block named `name` (Python's `SharedMemory(name)`), from any
   * thread of the process. Fails with `SharedMemoryError("NotFound")` when no
   * block has the name (never created, or unlinked), and with `"Timeout"`
   * when no thread holding its memory answers within `timeout`.
   *
   * @example Attaching by name (in this thread or any worker)
   * ```ts
   * import { SharedMemory } from "./shared_memory.ts";
   * const owner = await SharedMemory.create({ name: "counter-block", size: 8 });
   * {
   *   // a worker needs only the name
   *   using shm = await SharedMemory.attach("counter-block", { timeout: 1000 });
   *   shm.buf[0] = 42;
   * }
   * console.log(owner.buf[0]); // 42
   * await owner.unlink();
   * ```
   */
  static async attach(name: string, options?: AttachOptions): Promise<SharedMemory> {
    nameBytes(name, "attach shared memory");
    if (options?.signal?.aborted) throw abortedError("SharedMemoryError", "attach shared memory", options.signal);
    const r = await obtainRegistry("attach shared memory", options);
    return SharedMemory.fromEngine(await SharedMemoryEngine.attach(r, name, "attach shared memory", options));
  }

  /**
   * The synchronous twin of {@linkcode SharedMemory.attach}, for blocks whose
   * memory this thread already holds (it created, attached or received
   * them); `SharedMemoryError("Unavailable")` otherwise.
   *
   * @example Attaching a block this thread holds
   * ```ts
   * import { SharedMemory } from "./shared_memory.ts";
   * const a = SharedMemory.createSync({ name: "twice", size: 8 });
   * const b = SharedMemory.attachSync("twice");
   * console.log(a.buf.buffer === b.buf.buffer); // true
   * a.unlinkSync();
   * ```
   */
  static attachSync(name: string): SharedMemory {
    const r = syncRegistry("attach shared memory");
    return SharedMemory.fromEngine(SharedMemoryEngine.attachHeld(r, name, "attach shared memory"));
  }

  #closedError(what: string): SharedMemoryError {
    return new SharedMemoryError(
      "Closed",
      `Cannot ${what} as this instance is closed: received ${JSON.stringify(this.name)}`,
    );
  }

  /** The block's bytes (shared buffer only): Python's `buf`. Fails with `"Closed"` after `close()`. */
  get buf(): Uint8Array {
    const e = this.local("buf");
    if (this.#closed) throw this.#closedError("access buf");
    return e.u8;
  }

  /** True once {@linkcode close} was called on this instance. */
  get closed(): boolean {
    return this.#closed;
  }

  /** A copy of `length` bytes from `offset` (default: the whole block); any transport. */
  async read(offset = 0, length?: number): Promise<Uint8Array> {
    if (this.#closed) throw this.#closedError("read shared memory");
    return this.call("read", [offset, length]);
  }

  /** Copies `bytes` into the block at `offset`; any transport. */
  async write(offset: number, bytes: Uint8Array): Promise<void> {
    if (this.#closed) throw this.#closedError("write shared memory");
    return this.exec("write", [offset, bytes]);
  }

  /**
   * Detaches this instance: `buf`, `read` and `write` then fail with
   * `SharedMemoryError("Closed")`. Other instances, and the name, are not
   * affected. Calling it again does nothing. (Unlike other structures' `close()`,
   * `unlink()` still works after it, as in Python.)
   */
  override close(): void {
    this.#closed = true;
  }

  /**
   * Frees the block's name (Python's `unlink()`): a later attach by the name
   * fails with `"NotFound"` and the name may be taken again, while every
   * instance still attached, in any thread, keeps the same memory. A second
   * unlink fails with `SharedMemoryError("NotFound")`, as in Python.
   */
  async unlink(): Promise<void> {
    return this.exec("unlink", []);
  }

  /** The synchronous twin of {@linkcode unlink} (shared buffer only). */
  unlinkSync(): void {
    this.local("unlinkSync").unlink();
  }

  /** Closes this instance (for `using`). */
  override [Symbol.dispose](): void {
    this.close();
  }
}

function createOptions(
  options: unknown,
): { name: string | undefined; size: number; timeout?: number; signal?: AbortSignal } {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot create shared memory as 'options' must be an object with a size: received ${describe(options)}`,
    );
  }
  const o = options as SharedMemoryCreateOptions;
  if (o.name !== undefined) nameBytes(o.name, "create shared memory");
  return { name: o.name, size: checkSize(o.size, "create shared memory"), timeout: o.timeout, signal: o.signal };
}

/** A remote client: asks the server for the block's name and size first. */
async function remoteClient(handle: Handle, backend: Backend<SharedMemoryEngine>): Promise<SharedMemory> {
  const d = await backend.remote!.call("describe", []) as SharedMemoryDescription;
  return new SharedMemory(handle, backend, d);
}

/** The SharedMemory kind: `Manager.sharedMemory(size, { name })` creates (or opens) `[size, { name }]`. */
export const sharedMemorySpec = defineStructure({
  kind: "shared-memory",
  create: ([size, options]) => createForManager(size, (options as { name?: unknown } | undefined)?.name),
  // shm: the block's name lives in the manager, its memory in a region every process maps
  createPortable: ([size, options]) =>
    SharedMemoryEngine.portable((options as { name?: unknown } | undefined)?.name, size),
  share,
  open: (h) => engineFromHandle(h as SharedMemoryHandle),
  ops: sharedMemoryOps,
  dispose: unlinkCreated,
  // a remote client learns the block's name and size first, so it is a promise (attach awaits it)
  client: (handle, backend: Backend<SharedMemoryEngine>): SharedMemory | Promise<SharedMemory> =>
    backend.engine ? new SharedMemory(handle, backend) : remoteClient(handle, backend),
});
