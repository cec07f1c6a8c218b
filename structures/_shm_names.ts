/**
 * The names of shared memory blocks, for every thread of one process: the
 * process-wide name registry ({@linkcode Registry}), the blocks this thread
 * holds, and the `BroadcastChannel` on which threads ask each other for the
 * registry and for blocks they have never seen (see `shared_memory.ts` for
 * the whole story).
 *
 * Nothing happens at import: a thread opens the channel on first use — when
 * it creates or adopts the registry, or asks the other threads for
 * something — and from then on answers the others' requests.
 *
 * These names live within one process. The blocks of a manager on `shm:`
 * take none of them: the manager names them for every process, and their
 * `unlink` reaches it through {@linkcode registerForeignNames}, the hook the
 * `shm:` transport registers when it loads.
 * @module
 */
import { abortedError, CapacityError, SharedMemoryError } from "../errors.ts";
import { adoptRegistry, registryBuffer, threadId } from "../transports/_runtime/threads.ts";
import { lockSync, tryLock, unlock } from "../sync/_mutex.ts";
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

const utf8 = new TextEncoder();

function fnv1a(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h | 0;
}

/** Checks a name and returns its UTF-8 bytes. */
export function nameBytes(name: unknown, what: string): Uint8Array {
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
/** This thread's end of the channel, once it has used shared memory. */
let channel: BroadcastChannel | undefined;

const key = (slot: number, gen: number) => `${slot}:${gen}`;

/**
 * Opens this thread's end of the channel (once), so that it answers the
 * other threads: with the registry, with the blocks it holds.
 */
export function listenForNames(): void {
  if (channel) return;
  channel = new BroadcastChannel(CHANNEL);
  channel.onmessage = onMessage as (ev: unknown) => void;
  (channel as unknown as { unref?: () => void }).unref?.();
}

function post(m: Message): void {
  listenForNames();
  channel!.postMessage(m);
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

/** The registry this thread knows; the main thread creates it on first use. */
export function knownRegistry(): Registry | undefined {
  if (!registry && isMainThread) {
    registry = Registry.create();
    listenForNames();
  }
  return registry;
}

/** Adopts the registry a handle carries, unless this thread knows one. */
export function adoptNames(buffer: unknown): Registry | undefined {
  if (!registry && buffer instanceof SharedArrayBuffer) {
    registry = new Registry(buffer);
    listenForNames();
  }
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
  if (signal?.aborted) return Promise.reject(abortedError("SharedMemoryError", what, signal));
  const req = `${reqPrefix}-${++reqCount}`;
  return new Promise<T>((resolve, reject) => {
    const done = () => {
      pending.delete(req);
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      done();
      reject(abortedError("SharedMemoryError", what, signal));
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
export async function obtainRegistry(what: string, options?: AttachOptions): Promise<Registry> {
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

/** The registry, or `SharedMemoryError("Unavailable")` when this thread has none yet. */
export function syncRegistry(what: string): Registry {
  const r = knownRegistry();
  if (!r) {
    throw new SharedMemoryError(
      "Unavailable",
      `Cannot ${what} synchronously as this thread has not received the name registry yet (use the async form once): received none`,
    );
  }
  return r;
}

/** The memory of block (slot, gen) if this thread holds it. */
export function heldBlock(slot: number, gen: number): SharedArrayBuffer | undefined {
  return blocks.get(key(slot, gen));
}

/** This thread holds block (slot, gen) from now on (and answers for it), while it has its name. */
export function holdBlock(r: Registry, slot: number, gen: number, buffer: SharedArrayBuffer): void {
  if (r.isLive(slot, gen)) blocks.set(key(slot, gen), buffer);
}

/** A block this thread just created: it holds it, and a worker tells the main thread, which keeps it. */
export function announceCreated(slot: number, gen: number, buffer: SharedArrayBuffer): void {
  blocks.set(key(slot, gen), buffer);
  if (!isMainThread) post({ t: "created", slot, gen, buffer });
}

/** Block (slot, gen) lost its name: every thread forgets it. */
export function announceUnlinked(slot: number, gen: number): void {
  blocks.delete(key(slot, gen));
  post({ t: "unlinked", slot, gen });
}

/** The memory of block `entry`, asking the thread holding it when this one does not. */
export async function fetchBlock(
  r: Registry,
  entry: RegistryEntry,
  name: string,
  what: string,
  options?: AttachOptions,
): Promise<SharedArrayBuffer> {
  const held = heldBlock(entry.slot, entry.gen);
  if (held) return held;
  const buffer = await request(
    (req) => ({ t: "want", req, slot: entry.slot, gen: entry.gen }),
    (m) => (m.t === "have" || m.t === "created") && m.slot === entry.slot && m.gen === entry.gen ? m.buffer : undefined,
    what,
    options,
  );
  if (!r.isLive(entry.slot, entry.gen)) throw notFound(what, name);
  blocks.set(key(entry.slot, entry.gen), buffer);
  return buffer;
}

/**
 * How a transport that keeps block names itself (`shm:`: in its manager's
 * names dict, shared by every process) forgets one when its block is
 * unlinked.
 *
 * @example A transport's hook
 * ```ts
 * import { type ForeignNames, registerForeignNames } from "./_shm_names.ts";
 * const names: ForeignNames = { forget: (_manager, _name, _buffer) => false };
 * registerForeignNames(names);
 * ```
 */
export interface ForeignNames {
  /** Forgets `name` in the manager `manager` if it still names the block over `buffer`; true when it did. */
  forget(manager: string, name: string, buffer: ArrayBufferLike): boolean;
}

let foreignNames: ForeignNames | undefined;

/** Called once by the `shm:` transport when it loads (this module imports no transport). */
export function registerForeignNames(names: ForeignNames): void {
  foreignNames = names;
}

/** Forgets `name` in the manager that keeps it, if it still names the block over `buffer`. */
export function forgetForeignName(manager: string, name: string, buffer: ArrayBufferLike): boolean {
  return foreignNames?.forget(manager, name, buffer) ?? false;
}

/** `SharedMemoryError("NotFound")` for `name`. */
export function notFound(what: string, name: string, why = "no block has that name"): SharedMemoryError {
  return new SharedMemoryError("NotFound", `Cannot ${what} as ${why}: received ${JSON.stringify(name)}`);
}

/** The live entry of `name`, or `NotFound`; a bad name is a `TypeError`. */
export function lookupOrThrow(r: Registry, name: unknown, what: string): RegistryEntry {
  nameBytes(name, what);
  const entry = r.lookup(name as string);
  if (!entry) throw notFound(what, name as string);
  return entry;
}

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
