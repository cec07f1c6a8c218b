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
 *    ShareableList handle they receive, or ask for it once on the channel.
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
 * Limits: names live within one process (a child process has its own); an
 * attach of a block this thread has never held waits for some holder's event
 * loop to answer (the main thread's, normally), so it is asynchronous, and it
 * fails with `SharedMemoryError("Timeout")` when every holder is blocked or
 * gone (its `timeout`, 5 s by default); `attachSync` works only for blocks the
 * thread already holds.
 * @module
 */
import { CapacityError, SharedMemoryError } from "../errors.ts";
import { type Handle, registerStructure } from "../transports/_attach.ts";
import { registerKind } from "../transports/_host.ts";
import { adoptRegistry, registryBuffer, threadId } from "../transports/_runtime/threads.ts";
import { lockSync, tryLock, unlock } from "../sync/_mutex.ts";
import { unsupportedSync } from "../sync/lock.ts";
import type { Remote } from "../sync/_remote.ts";
// BroadcastChannel of node:worker_threads (Node, Deno and Bun all have it):
// unlike Deno's global one it can be unref'd, so listening never keeps a
// process alive. isMainThread picks the registry's creator.
import { BroadcastChannel, isMainThread } from "node:worker_threads";
import { describe } from "./_typecodes.ts";

// ---- registry layout (Int32 words of the registry buffer) ----

/** Robust mutex guarding the registry. */
const G_LOCK = 0;
/** {@linkcode REGISTRY_MAGIC}, to refuse a foreign buffer. */
const G_MAGIC = 1;
/** Slots laid out so far (free or live). */
const G_SLOTS = 2;
/** Live names. */
const G_LIVE = 3;
/** Bytes before the first slot. */
const HEADER_BYTES = 64;
/** Marks a registry buffer ("SHM1"). */
const REGISTRY_MAGIC = 0x53484d31;

/** Slot word: {@linkcode SLOT_FREE} or {@linkcode SLOT_LIVE}. */
const S_STATE = 0;
/** Slot word: bumped each time the slot takes a name, so (slot, gen) names one block forever. */
const S_GEN = 1;
/** Slot word: FNV-1a hash of the name's UTF-8 bytes. */
const S_HASH = 2;
/** Slot word: bytes of the name. */
const S_NAME_LEN = 3;
/** Slot word: low 32 bits of the block's size. */
const S_SIZE_LO = 4;
/** Slot word: high bits of the block's size. */
const S_SIZE_HI = 5;
/** Slot word: id (thread registry) of the creating thread. */
const S_CREATOR = 6;
/** Byte offset of the name's UTF-8 bytes in a slot. */
const S_NAME = 32;
/**
 * Most UTF-8 bytes in a name (as POSIX's `NAME_MAX`).
 *
 * @example The limit on names
 * ```ts
 * import { MAX_NAME_BYTES } from "./shared_memory.ts";
 * console.log(MAX_NAME_BYTES); // 255
 * ```
 */
export const MAX_NAME_BYTES = 255;
/** Bytes per slot: words, then the name. */
const SLOT_BYTES = S_NAME + MAX_NAME_BYTES + 1;
/** Slot state: unused. */
const SLOT_FREE = 0;
/** Slot state: holds a live name. */
const SLOT_LIVE = 1;
/** Slots the registry starts with. */
const INITIAL_SLOTS = 64;
/**
 * Most live names in a process; one more fails with `CapacityError`.
 *
 * @example The limit on live names
 * ```ts
 * import { MAX_NAMES } from "./shared_memory.ts";
 * console.log(MAX_NAMES); // 16384
 * ```
 */
export const MAX_NAMES = 16384;

/**
 * How long `attach` waits for a thread holding the block to answer, by
 * default (milliseconds).
 *
 * @example The default wait
 * ```ts
 * import { DEFAULT_ATTACH_TIMEOUT } from "./shared_memory.ts";
 * console.log(DEFAULT_ATTACH_TIMEOUT); // 5000
 * ```
 */
export const DEFAULT_ATTACH_TIMEOUT = 5_000;

export { SharedMemoryError, type SharedMemoryErrorReason } from "../errors.ts";

const utf8 = new TextEncoder();

function fnv1a(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h | 0;
}

/** Checks a name and returns its UTF-8 bytes. */
function nameBytes(name: unknown, what: string): Uint8Array {
  if (typeof name !== "string" || name.length === 0) {
    throw new TypeError(`Cannot ${what} as 'name' must be a non-empty string: received ${describe(name)}`);
  }
  const b = utf8.encode(name);
  if (b.length > MAX_NAME_BYTES) {
    throw new TypeError(
      `Cannot ${what} as 'name' must be at most ${MAX_NAME_BYTES} UTF-8 bytes: received ${b.length} bytes`,
    );
  }
  return b;
}

/**
 * A live name: where its block is registered.
 *
 * @example Where a name lives
 * ```ts
 * import { Registry, type RegistryEntry } from "./shared_memory.ts";
 * const entry: RegistryEntry = Registry.create().claim("x", 16);
 * console.log(entry.slot, entry.gen, entry.size); // 0 1 16
 * ```
 */
export interface RegistryEntry {
  readonly slot: number;
  readonly gen: number;
  readonly size: number;
}

/**
 * The process-wide name registry: live names → (slot, generation, size), in
 * one growable SharedArrayBuffer under a robust mutex. A slot's generation
 * grows each time it takes a name, so `(slot, gen)` names one block forever.
 *
 * @example Claiming, looking up and releasing a name
 * ```ts
 * import { Registry } from "./shared_memory.ts";
 * const r = Registry.create();
 * const { slot, gen } = r.claim("frame", 1024);
 * console.log(r.lookup("frame")?.size, r.isLive(slot, gen)); // 1024 true
 * r.release(slot, gen);
 * console.log(r.lookup("frame"), r.size()); // undefined 0
 * ```
 */
export class Registry {
  readonly i32: Int32Array;
  readonly u8: Uint8Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.i32 = new Int32Array(buffer);
    this.u8 = new Uint8Array(buffer);
    if (Atomics.load(this.i32, G_MAGIC) !== REGISTRY_MAGIC) {
      throw new TypeError("Cannot adopt shared memory registry as its buffer is not one: received a foreign buffer");
    }
  }

  /** A fresh, empty registry. */
  static create(): Registry {
    const sab =
      new (SharedArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => SharedArrayBuffer)(
        HEADER_BYTES + INITIAL_SLOTS * SLOT_BYTES,
        { maxByteLength: HEADER_BYTES + MAX_NAMES * SLOT_BYTES },
      );
    Atomics.store(new Int32Array(sab), G_MAGIC, REGISTRY_MAGIC);
    return new Registry(sab);
  }

  #with<T>(fn: () => T): T {
    const id = threadId();
    if (!tryLock(this.i32, G_LOCK, id)) lockSync(this.i32, G_LOCK, id, Infinity);
    try {
      return fn();
    } finally {
      unlock(this.i32, G_LOCK, id);
    }
  }

  #word(slot: number, w: number): number {
    return (HEADER_BYTES + slot * SLOT_BYTES) / 4 + w;
  }

  /** The live slot holding `name`, or -1 (the caller holds the lock). */
  #find(b: Uint8Array, h: number): number {
    const i32 = this.i32, u8 = this.u8, n = i32[G_SLOTS];
    for (let s = 0; s < n; s++) {
      if (i32[this.#word(s, S_STATE)] !== SLOT_LIVE || i32[this.#word(s, S_HASH)] !== h) continue;
      if (i32[this.#word(s, S_NAME_LEN)] !== b.length) continue;
      const p = HEADER_BYTES + s * SLOT_BYTES + S_NAME;
      let same = true;
      for (let j = 0; j < b.length && same; j++) same = u8[p + j] === b[j];
      if (same) return s;
    }
    return -1;
  }

  #entry(s: number): RegistryEntry {
    const i32 = this.i32;
    return {
      slot: s,
      gen: i32[this.#word(s, S_GEN)],
      size: (i32[this.#word(s, S_SIZE_HI)] >>> 0) * 2 ** 32 + (i32[this.#word(s, S_SIZE_LO)] >>> 0),
    };
  }

  /** The live entry of `name`, or undefined. */
  lookup(name: string): RegistryEntry | undefined {
    const b = nameBytes(name, "look up shared memory");
    const h = fnv1a(b);
    return this.#with(() => {
      const s = this.#find(b, h);
      return s < 0 ? undefined : this.#entry(s);
    });
  }

  /** Registers `name` for a block of `size` bytes; `Exists` if taken, `CapacityError` past {@linkcode MAX_NAMES}. */
  claim(name: string, size: number): RegistryEntry {
    const b = nameBytes(name, "create shared memory");
    const h = fnv1a(b);
    return this.#with(() => {
      if (this.#find(b, h) >= 0) {
        throw new SharedMemoryError(
          "Exists",
          `Cannot create shared memory as the name is taken: received ${JSON.stringify(name)}`,
        );
      }
      const i32 = this.i32, n = i32[G_SLOTS];
      let s = 0;
      while (s < n && i32[this.#word(s, S_STATE)] !== SLOT_FREE) s++;
      if (s === n) {
        if (n >= MAX_NAMES) {
          throw new CapacityError(
            "Full",
            `Cannot create shared memory as the process has ${MAX_NAMES} live names: received ${JSON.stringify(name)}`,
          );
        }
        const need = HEADER_BYTES + (n + 1) * SLOT_BYTES;
        if (need > this.buffer.byteLength) {
          const max = HEADER_BYTES + MAX_NAMES * SLOT_BYTES;
          (this.buffer as unknown as { grow(n: number): void }).grow(
            Math.min(max, Math.max(need, this.buffer.byteLength * 2)),
          );
        }
        i32[G_SLOTS] = n + 1;
      }
      const p = HEADER_BYTES + s * SLOT_BYTES + S_NAME;
      this.u8.set(b, p);
      i32[this.#word(s, S_HASH)] = h;
      i32[this.#word(s, S_NAME_LEN)] = b.length;
      i32[this.#word(s, S_SIZE_LO)] = size % 2 ** 32 | 0;
      i32[this.#word(s, S_SIZE_HI)] = Math.floor(size / 2 ** 32) | 0;
      i32[this.#word(s, S_CREATOR)] = threadId();
      Atomics.add(i32, this.#word(s, S_GEN), 1);
      Atomics.store(i32, this.#word(s, S_STATE), SLOT_LIVE);
      Atomics.add(i32, G_LIVE, 1);
      return this.#entry(s);
    });
  }

  /** Frees the name of block (slot, gen); false when it was already unlinked. */
  release(slot: number, gen: number): boolean {
    return this.#with(() => {
      if (!this.isLive(slot, gen)) return false;
      Atomics.store(this.i32, this.#word(slot, S_STATE), SLOT_FREE);
      Atomics.sub(this.i32, G_LIVE, 1);
      return true;
    });
  }

  /** True while block (slot, gen) still has its name. */
  isLive(slot: number, gen: number): boolean {
    if (!Number.isInteger(slot) || slot < 0 || slot >= Atomics.load(this.i32, G_SLOTS)) return false;
    return Atomics.load(this.i32, this.#word(slot, S_STATE)) === SLOT_LIVE &&
      Atomics.load(this.i32, this.#word(slot, S_GEN)) === gen;
  }

  /** Number of live names. */
  size(): number {
    return Atomics.load(this.i32, G_LIVE);
  }
}

// ---- this thread's view: the registry, the blocks it holds, the channel ----

/** Channel name; the version keeps incompatible copies of procshare apart. */
const CHANNEL = "procshare:shared-memory:1";

type Message =
  | { readonly t: "want-registry"; readonly req: string }
  | {
    readonly t: "registry";
    readonly req: string;
    readonly buffer: SharedArrayBuffer;
    /** The thread registry, so that a thread no procshare handle reached yet gets a unique id. */
    readonly threads: SharedArrayBuffer;
  }
  | { readonly t: "want"; readonly req: string; readonly slot: number; readonly gen: number }
  | {
    readonly t: "have";
    readonly req: string;
    readonly slot: number;
    readonly gen: number;
    readonly buffer: SharedArrayBuffer;
  }
  | { readonly t: "created"; readonly slot: number; readonly gen: number; readonly buffer: SharedArrayBuffer }
  | { readonly t: "unlinked"; readonly slot: number; readonly gen: number };

let registry: Registry | undefined;
/** Blocks this thread holds, by `slot:gen`, until it learns they were unlinked. */
const blocks = new Map<string, SharedArrayBuffer>();
/** Requests of this thread waiting for an answer, by request id. */
const pending = new Map<string, (m: Message) => void>();
const reqPrefix = Math.random().toString(36).slice(2);
let reqCount = 0;

const key = (slot: number, gen: number) => `${slot}:${gen}`;

function post(m: Message): void {
  channel.postMessage(m);
}

function onMessage(ev: { data: unknown }): void {
  const m = ev.data as Message;
  if (typeof m !== "object" || m === null) return;
  switch (m.t) {
    case "want-registry": {
      const r = knownRegistry();
      if (r) post({ t: "registry", req: m.req, buffer: r.buffer, threads: registryBuffer() });
      break;
    }
    case "want": {
      const k = key(m.slot, m.gen);
      const b = blocks.get(k);
      if (!b) break;
      if (registry?.isLive(m.slot, m.gen)) post({ t: "have", req: m.req, slot: m.slot, gen: m.gen, buffer: b });
      else blocks.delete(k);
      break;
    }
    case "registry":
    case "have":
      pending.get(m.req)?.(m);
      break;
    case "created":
      // the main thread keeps every block until it is unlinked
      if (isMainThread && registry?.isLive(m.slot, m.gen)) blocks.set(key(m.slot, m.gen), m.buffer);
      // and it answers a request for it that crossed the notice
      for (const f of [...pending.values()]) f(m);
      break;
    case "unlinked":
      blocks.delete(key(m.slot, m.gen));
      break;
  }
}

const channel = new BroadcastChannel(CHANNEL);
channel.onmessage = onMessage as (ev: unknown) => void;
(channel as unknown as { unref?: () => void }).unref?.();

/** The registry this thread knows; the main thread creates it on first use. */
function knownRegistry(): Registry | undefined {
  if (!registry && isMainThread) registry = Registry.create();
  return registry;
}

/** Adopts the registry a handle carries, unless this thread knows one. */
function adoptNames(buffer: unknown): Registry | undefined {
  if (!registry && buffer instanceof SharedArrayBuffer) registry = new Registry(buffer);
  return registry;
}

/**
 * Options of the asynchronous calls that may have to ask another thread
 * (`attach`, and `create` in a worker that has no name registry yet).
 *
 * @example A short wait
 * ```ts
 * import { type AttachOptions, SharedMemory } from "./shared_memory.ts";
 * const options: AttachOptions = { timeout: 500, signal: AbortSignal.timeout(1000) };
 * await SharedMemory.attach("frame", options).catch((e) => console.log(e.reason)); // NotFound
 * ```
 */
export interface AttachOptions {
  /** Milliseconds to wait for a thread holding the block to answer (default 5000). */
  readonly timeout?: number;
  /** Cancels the wait; the call then fails with `SharedMemoryError("Aborted")`. */
  readonly signal?: AbortSignal;
}

/** Broadcasts a request and resolves with the first answer `accept` takes. */
function request<T>(
  make: (req: string) => Message,
  accept: (m: Message) => T | undefined,
  what: string,
  options: AttachOptions | undefined,
): Promise<T> {
  const timeout = options?.timeout ?? DEFAULT_ATTACH_TIMEOUT;
  if (typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0) {
    throw new TypeError(`Cannot ${what} as 'timeout' must be a non-negative number: received ${describe(timeout)}`);
  }
  const signal = options?.signal;
  if (signal?.aborted) {
    return Promise.reject(
      new SharedMemoryError("Aborted", `Cannot ${what} as the signal was aborted`, { cause: signal.reason }),
    );
  }
  const req = `${reqPrefix}-${++reqCount}`;
  return new Promise<T>((resolve, reject) => {
    const done = () => {
      pending.delete(req);
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      done();
      reject(new SharedMemoryError("Aborted", `Cannot ${what} as the signal was aborted`, { cause: signal?.reason }));
    };
    // the timer also keeps the event loop alive while the answer travels
    const timer = setTimeout(() => {
      done();
      reject(
        new SharedMemoryError(
          "Timeout",
          `Cannot ${what} as no other thread answered in time (those holding it are blocked or gone): received timeout ${timeout}`,
        ),
      );
    }, timeout);
    signal?.addEventListener("abort", onAbort, { once: true });
    pending.set(req, (m) => {
      const v = accept(m);
      if (v === undefined) return;
      done();
      resolve(v);
    });
    post(make(req));
  });
}

/** The registry, asking the other threads for it when this one has none. */
async function obtainRegistry(what: string, options?: AttachOptions): Promise<Registry> {
  const r = knownRegistry();
  if (r) return r;
  const answer = await request(
    (req) => ({ t: "want-registry", req }),
    (m) => (m.t === "registry" ? m : undefined),
    what,
    options,
  );
  adoptRegistry(answer.threads);
  return adoptNames(answer.buffer)!;
}

function syncRegistry(what: string): Registry {
  const r = knownRegistry();
  if (!r) {
    throw new SharedMemoryError(
      "Unavailable",
      `Cannot ${what} synchronously as this thread has not received the name registry yet (use the async form once): received none`,
    );
  }
  return r;
}

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
 * The shared-memory engine of a block: its registry entry and its bytes.
 * The manager server hosts it; {@linkcode SharedMemory} wraps it.
 *
 * @example Using the engine directly
 * ```ts
 * import { Registry, SharedMemoryEngine } from "./shared_memory.ts";
 * const e = SharedMemoryEngine.create(Registry.create(), "raw", 4);
 * e.write(1, new Uint8Array([7]));
 * console.log(e.read(), e.describe()); // Uint8Array(4) [ 0, 7, 0, 0 ] { name: "raw", size: 4 }
 * e.unlink();
 * ```
 */
export class SharedMemoryEngine {
  readonly u8: Uint8Array;
  constructor(
    readonly registry: Registry,
    readonly name: string,
    readonly entry: RegistryEntry,
    readonly buffer: SharedArrayBuffer,
  ) {
    this.u8 = new Uint8Array(buffer, 0, entry.size);
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
      blocks.set(key(entry.slot, entry.gen), buffer);
      if (!isMainThread) post({ t: "created", slot: entry.slot, gen: entry.gen, buffer });
      return new SharedMemoryEngine(r, nm, entry, buffer);
    }
  }

  /** The block named `name` if this thread holds its memory; `NotFound` or `Unavailable` otherwise. */
  static attachHeld(r: Registry, name: string, what: string): SharedMemoryEngine {
    const entry = lookupOrThrow(r, name, what);
    const buffer = blocks.get(key(entry.slot, entry.gen));
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
    const k = key(entry.slot, entry.gen);
    let buffer = blocks.get(k);
    if (!buffer) {
      buffer = await request(
        (req) => ({ t: "want", req, slot: entry.slot, gen: entry.gen }),
        (m) =>
          (m.t === "have" || m.t === "created") && m.slot === entry.slot && m.gen === entry.gen ? m.buffer : undefined,
        what,
        options,
      );
      if (!r.isLive(entry.slot, entry.gen)) throw notFound(what, name);
      blocks.set(k, buffer);
    }
    return new SharedMemoryEngine(r, name, entry, buffer);
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

  /** Frees the name; the memory stays with every instance still attached. */
  unlink(): void {
    const { slot, gen } = this.entry;
    if (!this.registry.release(slot, gen)) throw notFound("unlink shared memory", this.name, "it is already unlinked");
    blocks.delete(key(slot, gen));
    post({ t: "unlinked", slot, gen });
  }

  describe(): { name: string; size: number } {
    return { name: this.name, size: this.entry.size };
  }
}

function notFound(what: string, name: string, why = "no block has that name"): SharedMemoryError {
  return new SharedMemoryError("NotFound", `Cannot ${what} as ${why}: received ${JSON.stringify(name)}`);
}

function lookupOrThrow(r: Registry, name: unknown, what: string): RegistryEntry {
  nameBytes(name, what);
  const entry = r.lookup(name as string);
  if (!entry) throw notFound(what, name as string);
  return entry;
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
  return {
    kind: "shared-memory",
    via: "shared-buffer",
    name: e.name,
    size: e.entry.size,
    slot: e.entry.slot,
    gen: e.entry.gen,
    buffer: e.buffer,
    names: e.registry.buffer,
    registry: registryBuffer(),
  };
}

/**
 * @internal Rebuilds the engine of a block from its handle; this thread then
 * holds the block too (and answers other threads asking for it).
 *
 * @example Rebuilding an engine
 * ```ts
 * import { engineFromHandle, SharedMemory, type SharedMemoryHandle } from "./shared_memory.ts";
 * const shm = SharedMemory.createSync({ size: 8 });
 * console.log(engineFromHandle(shm.handle as SharedMemoryHandle).name === shm.name); // true
 * shm.unlinkSync();
 * ```
 */
export function engineFromHandle(h: SharedMemoryHandle): SharedMemoryEngine {
  adoptRegistry(h.registry);
  const mine = adoptNames(h.names);
  // a handle from another registry (never, within one process) still carries its memory
  const r = mine && mine.buffer === h.names ? mine : new Registry(h.names);
  if (!(h.buffer instanceof SharedArrayBuffer) || h.buffer.byteLength < h.size) {
    throw new TypeError(
      `Cannot attach shared memory as its handle carries no memory of its size: received ${describe(h.buffer)}`,
    );
  }
  if (r.isLive(h.slot, h.gen)) blocks.set(key(h.slot, h.gen), h.buffer);
  return new SharedMemoryEngine(r, h.name, { slot: h.slot, gen: h.gen, size: h.size }, h.buffer);
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
  return SharedMemoryEngine.create(r, name as string | undefined, size);
}

registerKind<SharedMemoryEngine>("shared-memory", {
  create: ([size, options]) => createForManager(size, (options as { name?: unknown } | undefined)?.name),
  localHandle: sharedMemoryHandle,
  ops: {
    describe: (e) => e.describe(),
    read: (e, [offset, length]) => e.read(offset, length),
    write: (e, [offset, bytes]) => e.write(offset, bytes),
    unlink: (e) => e.unlink(),
  },
});

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
 * **Transports**: shared buffer (`buf`, the `Sync` calls), and through a
 * manager on a socket or pipe (`read`, `write` and `unlink` are remote calls;
 * `buf` is unavailable).
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
export class SharedMemory implements Disposable {
  readonly #engine: SharedMemoryEngine | undefined;
  readonly #remote: Remote | undefined;
  #closed = false;
  /** Serializable description: pass it to a worker and `attach` it there. */
  readonly handle: Handle;
  /** The block's name (Python's `name`). */
  readonly name: string;
  /** Bytes of the block (Python's `size`). */
  readonly size: number;

  /** @internal Use `SharedMemory.create`, `SharedMemory.attach`, `Manager.sharedMemory()` or `attach(handle)`. */
  constructor(handle: Handle, name: string, size: number, engine?: SharedMemoryEngine, remote?: Remote) {
    this.handle = handle;
    this.name = name;
    this.size = size;
    this.#engine = engine;
    this.#remote = remote;
  }

  /** @internal Wraps an engine of this thread. */
  static fromEngine(e: SharedMemoryEngine): SharedMemory {
    return new SharedMemory(sharedMemoryHandle(e), e.name, e.entry.size, e);
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
    if (options?.signal?.aborted) {
      throw new SharedMemoryError("Aborted", "Cannot attach shared memory as the signal was aborted", {
        cause: options.signal.reason,
      });
    }
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
    if (!this.#engine) throw unsupportedSync("buf", this.handle.via);
    if (this.#closed) throw this.#closedError("access buf");
    return this.#engine.u8;
  }

  /** True once {@linkcode close} was called on this instance. */
  get closed(): boolean {
    return this.#closed;
  }

  /** A copy of `length` bytes from `offset` (default: the whole block); any transport. */
  async read(offset = 0, length?: number): Promise<Uint8Array> {
    if (this.#closed) throw this.#closedError("read shared memory");
    if (this.#engine) return this.#engine.read(offset, length);
    return await this.#remote!.call("read", [offset, length]) as Uint8Array;
  }

  /** Copies `bytes` into the block at `offset`; any transport. */
  async write(offset: number, bytes: Uint8Array): Promise<void> {
    if (this.#closed) throw this.#closedError("write shared memory");
    if (this.#engine) this.#engine.write(offset, bytes);
    else await this.#remote!.call("write", [offset, bytes]);
  }

  /**
   * Detaches this instance: `buf`, `read` and `write` then fail with
   * `SharedMemoryError("Closed")`. Other instances, and the name, are not
   * affected. Calling it again does nothing.
   */
  close(): void {
    this.#closed = true;
  }

  /**
   * Frees the block's name (Python's `unlink()`): a later attach by the name
   * fails with `"NotFound"` and the name may be taken again, while every
   * instance still attached, in any thread, keeps the same memory. A second
   * unlink fails with `SharedMemoryError("NotFound")`, as in Python.
   */
  async unlink(): Promise<void> {
    if (this.#engine) this.#engine.unlink();
    else await this.#remote!.call("unlink", []);
  }

  /** The synchronous twin of {@linkcode unlink} (shared buffer only). */
  unlinkSync(): void {
    if (!this.#engine) throw unsupportedSync("unlinkSync", this.handle.via);
    this.#engine.unlink();
  }

  /** Closes this instance (for `using`). */
  [Symbol.dispose](): void {
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

registerStructure("shared-memory", {
  fromLocal: (h) => {
    const e = engineFromHandle(h as SharedMemoryHandle);
    return new SharedMemory(h, e.name, e.entry.size, e);
  },
  fromRemote: async (h, remote) => {
    const d = await remote.call("describe", []) as { name: string; size: number };
    return new SharedMemory(h, d.name, d.size, undefined, remote);
  },
});

/**
 * @internal For tests: the number of live names in this thread's registry
 * (undefined while the thread has none).
 *
 * @example Counting live names
 * ```ts
 * import { liveNames, SharedMemory } from "./shared_memory.ts";
 * const before = liveNames() ?? 0;
 * const shm = SharedMemory.createSync({ size: 1 });
 * console.log(liveNames()! - before); // 1
 * shm.unlinkSync();
 * ```
 */
export function liveNames(): number | undefined {
  return registry?.size();
}
