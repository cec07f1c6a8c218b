/**
 * The thread registry: one small SharedArrayBuffer per process that gives
 * every thread (and every remote connection the manager serves) a unique id,
 * and records which ids are dead. Lock words store their owner's id, so a
 * waiter can tell that the owner died and take the lock over (DESIGN.md §4).
 *
 * The registry travels inside every shared-buffer handle; a thread adopts the
 * first registry it sees, before it needs an id of its own.
 *
 * ## Ids are generation-tagged, and slots are reused
 *
 * An id is `generation << 16 | slot`: a slot (1..65535) is one word of the
 * registry, holding the slot's current generation and a dead bit. A slot is
 * handed out fresh first (each once, generation 0); once every slot has been
 * used, an id is made by reusing a *dead* slot with its generation bumped,
 * scanning from a rotating cursor (amortised O(1) under churn). An id is dead
 * when its slot's dead bit is set *or* its slot's generation moved on, so a
 * lock word left by a dead owner still reads as dead after that owner's slot
 * went to a new thread or connection: the new owner of the slot takes it over
 * with `ownerDied`, as anyone else would, and never mistakes it for its own.
 *
 * Ids fit the 30 owner bits of a lock word (`OWNER_MASK` in `sync/_mutex.ts`)
 * and are never 0. The generation wraps after {@linkcode MAX_GENERATIONS}
 * reuses of one slot (about 5 × 10^8 allocations when every slot churns): only a
 * lock word untouched for that long by anyone but its dead owner could then
 * be mistaken for the slot's new owner's.
 *
 * At most {@linkcode MAX_IDS}` - 1` ids are alive at once; beyond,
 * {@linkcode allocateId} throws `RangeError` (the socket server turns it into a
 * refusal at connect).
 *
 * ## Ids shared with other processes
 *
 * Lock words in memory shared between processes (`shm:`) need ids that mean
 * the same to every process: once a thread uses a foreign registry
 * ({@linkcode useForeignIds}), its owner id comes from there and carries
 * {@linkcode FOREIGN_ID_BIT}. It keeps its process-local id, linked to the
 * foreign one in this registry (two more words per slot), for what stays
 * process-local: a stop request, and its parent marking it dead.
 *
 * @example An id freed by markDead is reused under another generation
 * ```ts
 * import { IdRegistry } from "./threads.ts";
 * const r = new IdRegistry(new SharedArrayBuffer(IdRegistry.bytes(2)));
 * const a = r.allocate(), b = r.allocate(); // the two fresh slots
 * r.markDead(a);
 * const c = r.allocate(); // a's slot, next generation
 * console.log(c !== a, r.isDead(a), r.isDead(c), r.isDead(b)); // true true false false
 * ```
 * @module
 */
import { nap, onWaitSlice } from "../../sync/_kernel.ts";

/** Word holding the last fresh slot handed out. */
const R_NEXT_SLOT = 0;
/** Word holding the slot where the next scan for a dead slot starts. */
const R_CURSOR = 1;
/** First word of the per-slot state array (word `R_STATES + slot`). */
const R_STATES = 16;
/**
 * After the states, per slot two words: the foreign id linked to the slot's
 * local id (see {@linkcode useForeignIds}), then that local id.
 */
const ALIAS_WORDS = 2;

/** Bits of an id that name its slot. */
export const SLOT_BITS = 16;
/** The slot bits of an id. */
export const SLOT_MASK = (1 << SLOT_BITS) - 1;
/** How many slots a process registry has (ids are alive in slots 1..MAX_IDS-1). */
export const MAX_IDS = 1 << SLOT_BITS;
/** Generations one slot goes through before its generation wraps (ids stay below 2^30). */
export const MAX_GENERATIONS = 1 << 13;
/** The generation bits of a slot's state word. */
const GEN_MASK = MAX_GENERATIONS - 1;
/** Set in a slot's state word once its current id is dead. */
const DEAD_BIT = 1 << 14;
/**
 * Set in a slot's state word when the id's thread was asked to stop but may
 * still run (Deno's `terminate()` does not stop a thread busy in a loop that
 * never yields): the thread halts, and marks itself dead, at its next
 * procshare call or wait slice (see {@linkcode threadId}).
 */
const STOP_BIT = 1 << 15;

/**
 * Set in ids handed out by a registry shared between processes (an `shm:`
 * region, `transports/shm/_owners.ts`): `isDead` and `markDead` ask that
 * registry about them. Process-local ids never have it (their generation
 * has 13 bits).
 */
export const FOREIGN_ID_BIT = 1 << 29;

/** A registry of ids shared with other processes (see {@linkcode useForeignIds}). */
export interface ForeignIds {
  /** A fresh id for the calling thread. */
  allocate(): number;
  /** A fresh id for a thread of this process about to start (see {@linkcode reserveWorkerId}). */
  reserve(): number;
  /** Makes the calling thread the owner of `id`, reserved for it; false when it cannot (the id is dead, say). */
  adopt(id: number): boolean;
  isDead(id: number): boolean;
  markDead(id: number): void;
}

let foreign: ForeignIds | undefined;

/**
 * From now on this thread's owner id and the ids of the threads it spawns
 * come from `ids`, a registry shared with other processes, and ids carrying
 * {@linkcode FOREIGN_ID_BIT} are resolved there.
 *
 * A thread that has an id already gets one of `ids`: a foreign id reserved
 * for it by its parent is adopted, anything else is replaced (re-id), since a
 * process-local id means nothing to another process. The thread keeps its
 * process-local id, linked to the new one, for what stays process-local: a
 * stop request, and its parent marking it dead when it exits (which marks the
 * foreign id dead too). A lock the thread holds under its old id when this
 * is called stays held by that id: release such locks before the first
 * `shm:` use (a release after it is refused as the thread's id changed).
 * Calling it again with the same registry does nothing.
 *
 * @example A thread's local id is replaced by a foreign one
 * ```ts
 * import { FOREIGN_ID_BIT, type ForeignIds, threadId, useForeignIds } from "./threads.ts";
 * let next = 0;
 * const ids: ForeignIds = {
 *   allocate: () => FOREIGN_ID_BIT | ++next,
 *   reserve: () => FOREIGN_ID_BIT | ++next,
 *   adopt: () => false,
 *   isDead: () => false,
 *   markDead: () => {},
 * };
 * const before = threadId();
 * useForeignIds(ids);
 * console.log((before & FOREIGN_ID_BIT) === 0, threadId() === (FOREIGN_ID_BIT | 1)); // true true
 * ```
 */
export function useForeignIds(ids: ForeignIds): void {
  if (ids === foreign) return;
  const previous = foreign;
  foreign = ids;
  if (myId === 0) return;
  const isForeign = (myId & FOREIGN_ID_BIT) !== 0;
  if (isForeign && previous === undefined && ids.adopt(myId)) return; // reserved by the parent
  if (isForeign) previous?.markDead(myId); // an id of another registry: its slot is free again
  const id = ids.allocate();
  if (myLocal !== 0) processRegistry().link(myLocal, id);
  myId = id;
}

/** State of an id that is alive (or never used), in generation 0. */
export const ID_ALIVE = 0;
/** The dead bit of a slot's state word. */
export const ID_DEAD = DEAD_BIT;

/**
 * A registry of ids over a shared buffer: what every thread of a process
 * shares (the module functions below use one per process), and what tests can
 * make small.
 *
 * @example A registry of three slots, full
 * ```ts
 * import { IdRegistry } from "./threads.ts";
 * const r = new IdRegistry(new SharedArrayBuffer(IdRegistry.bytes(3)));
 * r.allocate(); r.allocate(); r.allocate();
 * console.log(r.tryAllocate()); // 0
 * ```
 */
export class IdRegistry {
  /** Bytes of a registry of `slots` usable slots. */
  static bytes(slots: number): number {
    if (!Number.isInteger(slots) || slots < 1 || slots >= MAX_IDS) {
      throw new RangeError(
        `Cannot size an id registry as slots must be an integer in [1, ${MAX_IDS - 1}]: received ${slots}`,
      );
    }
    return (R_STATES + (slots + 1) * (1 + ALIAS_WORDS)) * 4;
  }

  readonly #i32: Int32Array;
  readonly #slots: number;
  /** Word of slot 0's alias pair. */
  readonly #aliases: number;

  /** Wraps `buffer`, made with at least {@linkcode IdRegistry.bytes} bytes (zeroed, or an existing registry's). */
  constructor(buffer: SharedArrayBuffer) {
    this.#i32 = new Int32Array(buffer);
    const fit = Math.floor((this.#i32.length - R_STATES) / (1 + ALIAS_WORDS)) - 1;
    this.#slots = Math.min(fit, MAX_IDS - 1); // a slot must fit SLOT_MASK
    if (this.#slots < 1) {
      throw new RangeError(`Cannot use an id registry as its buffer is too small: received ${buffer.byteLength} bytes`);
    }
    this.#aliases = R_STATES + this.#slots + 1;
  }

  /** The buffer, to share with other threads. */
  get buffer(): SharedArrayBuffer {
    return this.#i32.buffer as SharedArrayBuffer;
  }

  /** Usable slots: the most ids alive at once. */
  get slots(): number {
    return this.#slots;
  }

  /** How many ids are alive now (a snapshot: other threads may change it meanwhile). */
  alive(): number {
    const i = this.#i32;
    const used = Math.min(Atomics.load(i, R_NEXT_SLOT), this.#slots);
    let n = 0;
    for (let s = 1; s <= used; s++) if ((Atomics.load(i, R_STATES + s) & DEAD_BIT) === 0) n++;
    return n;
  }

  /** A fresh id, or 0 when every slot holds a live id. */
  tryAllocate(): number {
    const i = this.#i32;
    const slots = this.#slots;
    // a never-used slot first: it keeps reuse (and generation wrap) as far away as possible
    for (let next = Atomics.load(i, R_NEXT_SLOT); next < slots; next = Atomics.load(i, R_NEXT_SLOT)) {
      if (Atomics.compareExchange(i, R_NEXT_SLOT, next, next + 1) === next) return next + 1;
    }
    const start = Atomics.load(i, R_CURSOR) % slots;
    for (let k = 0; k < slots; k++) {
      const s = ((start + k) % slots) + 1;
      const w = Atomics.load(i, R_STATES + s);
      if ((w & DEAD_BIT) === 0) continue;
      const gen = (w + 1) & GEN_MASK;
      if (Atomics.compareExchange(i, R_STATES + s, w, gen) !== w) continue;
      Atomics.store(i, R_CURSOR, s % slots);
      return gen << SLOT_BITS | s;
    }
    return 0;
  }

  /** A fresh id; `RangeError` when every slot holds a live id. */
  allocate(): number {
    const id = this.tryAllocate();
    if (id === 0) {
      throw new RangeError(
        `Cannot allocate a thread or connection id as all ${this.#slots} are held by live threads and connections: received ${this.alive()} alive`,
      );
    }
    return id;
  }

  /**
   * Marks an id dead: locks it holds become free for the taking, and its slot
   * may be reused. A no-op for an id already dead or whose slot moved on (it
   * never kills the slot's next owner), and for 0.
   */
  markDead(id: number): void {
    this.#setBit(id, DEAD_BIT);
  }

  /** Asks the id's thread to stop: it halts at its next procshare call (a no-op for a dead or reused id). */
  requestStop(id: number): void {
    this.#setBit(id, STOP_BIT);
  }

  /** True when the id's thread was asked to stop and its slot is still its own. */
  stopRequested(id: number): boolean {
    const s = id & SLOT_MASK;
    if (id <= 0 || s === 0 || s > this.#slots) return false;
    const w = Atomics.load(this.#i32, R_STATES + s);
    return (w & STOP_BIT) !== 0 && (w & GEN_MASK) === id >>> SLOT_BITS;
  }

  /** The registry words and the index of the id's state word (for a thread's own fast stop check). */
  stateWord(id: number): [Int32Array, number] {
    return [this.#i32, R_STATES + (id & SLOT_MASK)];
  }

  /** Sets `bit` in the state of exactly this generation of the id's slot, unless it is dead. */
  #setBit(id: number, bit: number): void {
    const s = id & SLOT_MASK;
    if (id <= 0 || s === 0 || s > this.#slots) return;
    const gen = id >>> SLOT_BITS;
    const i = R_STATES + s;
    for (;;) {
      const w = Atomics.load(this.#i32, i);
      if ((w & GEN_MASK) !== gen || (w & DEAD_BIT) !== 0 || (w & bit) !== 0) return;
      if (Atomics.compareExchange(this.#i32, i, w, w | bit) === w) return;
    }
  }

  /**
   * Links a live local id to the foreign id its thread uses as owner (see
   * {@linkcode useForeignIds}): the threads of this process can then tell
   * whether that foreign id is dead without the foreign registry.
   */
  link(local: number, foreignId: number): void {
    const s = local & SLOT_MASK;
    if (local <= 0 || s === 0 || s > this.#slots) return;
    const at = this.#aliases + s * ALIAS_WORDS;
    Atomics.store(this.#i32, at, 0);
    Atomics.store(this.#i32, at + 1, local);
    Atomics.store(this.#i32, at, foreignId);
  }

  /** The foreign id linked to `local`, or 0. */
  aliasOf(local: number): number {
    const s = local & SLOT_MASK;
    if (local <= 0 || s === 0 || s > this.#slots) return 0;
    const at = this.#aliases + s * ALIAS_WORDS;
    if (Atomics.load(this.#i32, at + 1) !== local) return 0;
    const f = Atomics.load(this.#i32, at);
    return Atomics.load(this.#i32, at + 1) === local ? f : 0; // not relinked meanwhile (link writes 0 first)
  }

  /** The local id linked to `foreignId`, or 0 when no thread of this process uses it (a scan of the used slots). */
  localOf(foreignId: number): number {
    if (foreignId === 0) return 0;
    const i = this.#i32;
    const used = Math.min(Atomics.load(i, R_NEXT_SLOT), this.#slots);
    for (let s = 1; s <= used; s++) {
      const at = this.#aliases + s * ALIAS_WORDS;
      if (Atomics.load(i, at) === foreignId) return Atomics.load(i, at + 1);
    }
    return 0;
  }

  /** True when the id's thread or connection is known to have ended (its slot dead, or reused since). */
  isDead(id: number): boolean {
    const s = id & SLOT_MASK;
    if (id <= 0 || s === 0 || s > this.#slots) return false;
    const w = Atomics.load(this.#i32, R_STATES + s);
    return (w & DEAD_BIT) !== 0 || (w & GEN_MASK) !== id >>> SLOT_BITS;
  }
}

let registry: IdRegistry | undefined;
/** This thread's owner id: what it writes into lock words (foreign once a foreign registry is in use). */
let myId = 0;
/** This thread's process-local id (stop requests, its parent's markDead), or 0 when it has none. */
let myLocal = 0;

/** The registry buffer of this thread, created on first use. */
export function registryBuffer(): SharedArrayBuffer {
  return processRegistry().buffer;
}

/** Adopts a registry received from another thread, unless this thread has one. */
export function adoptRegistry(buf: SharedArrayBuffer | undefined): void {
  if (!registry && buf instanceof SharedArrayBuffer) registry = new IdRegistry(buf);
}

/** This process's registry (shared by its threads), created on first use. */
export function processRegistry(): IdRegistry {
  registry ??= new IdRegistry(new SharedArrayBuffer(IdRegistry.bytes(MAX_IDS - 1)));
  return registry;
}

/** Hands out a fresh id (for a thread, or a remote connection acting as one); `RangeError` when none is free. */
export function allocateId(): number {
  return processRegistry().allocate();
}

/** A fresh id, or 0 when every id is held by a live thread or connection. */
export function tryAllocateId(): number {
  return processRegistry().tryAllocate();
}

/** This thread's state word, once it has an id: where a stop request shows. */
let myState: Int32Array | undefined;
let myStateIndex = 0;

/**
 * This thread's id. Every procshare operation that takes a lock or writes
 * asks for it, so this is where a thread that was asked to stop (and kept
 * running: Deno's `terminate()` of a busy thread) halts before it can touch
 * shared state again: see {@linkcode haltIfStopped}.
 */
export function threadId(): number {
  if (myId === 0) {
    if (foreign !== undefined) become(foreign.allocate(), 0);
    else {
      const id = allocateId();
      become(id, id);
    }
  } else if (myState !== undefined && (Atomics.load(myState, myStateIndex) & STOP_BIT) !== 0) haltIfStopped();
  return myId;
}

/**
 * If this thread was asked to stop: marks its id dead (what it held passes
 * on, told `ownerDied`) and blocks this thread for good, so that a thread
 * its runtime failed to stop never writes shared state again.
 */
export function haltIfStopped(): void {
  if (myLocal === 0 || !processRegistry().stopRequested(myLocal)) return;
  markDead(myLocal);
  if (myId !== myLocal) markDead(myId);
  const forever = new Int32Array(new SharedArrayBuffer(4));
  for (;;) nap(forever, 0, 0, 60_000);
}

/** Asks the thread of `id` (a local id: see {@linkcode reserveWorkerId}) to stop at its next procshare call or wait slice. */
export function requestStop(id: number): void {
  processRegistry().requestStop(id);
}

/** True when the thread of `id` was asked to stop and has not marked itself dead yet. */
export function stopRequested(id: number): boolean {
  return processRegistry().stopRequested(id);
}

/**
 * Marks an id dead: locks it holds become free for the taking, and its slot
 * may be reused. A local id linked to a foreign one marks that one dead too
 * (in the foreign registry when this thread uses one; other threads of the
 * process see it through the link).
 */
export function markDead(id: number): void {
  if ((id & FOREIGN_ID_BIT) !== 0) return void foreign?.markDead(id);
  const r = processRegistry();
  r.markDead(id);
  const linked = r.aliasOf(id);
  if (linked !== 0) foreign?.markDead(linked);
}

/**
 * True when the id's thread or connection is known to have ended. A foreign
 * id is asked of the foreign registry (which checks its process and thread),
 * then of the local id linked to it, if a thread of this process uses it:
 * that one is dead once the thread's parent marked it so.
 */
export function isDead(id: number): boolean {
  if ((id & FOREIGN_ID_BIT) === 0) return processRegistry().isDead(id);
  if (foreign !== undefined && foreign.isDead(id)) return true;
  const r = processRegistry();
  const local = r.localOf(id);
  if (local === 0 || !r.isDead(local)) return false;
  foreign?.markDead(id); // tell the other processes
  return true;
}

/**
 * Reserves an id for a worker about to start, so that its parent can mark it
 * dead when it exits even if it never ran a line, and ask it to stop: a
 * local id, linked to a foreign one (reserved for the worker, which adopts it)
 * when this thread uses a foreign registry.
 */
export function reserveWorkerId(): number {
  const id = allocateId();
  if (foreign === undefined) return id;
  try {
    processRegistry().link(id, foreign.reserve());
  } catch (e) {
    processRegistry().markDead(id);
    throw e;
  }
  return id;
}

/**
 * Sets this thread's id (a spawned worker gets the one its parent reserved):
 * a local id linked to a foreign one makes the foreign one its owner id.
 */
export function setThreadId(id: number): void {
  if ((id & FOREIGN_ID_BIT) !== 0) become(id, 0);
  else become(processRegistry().aliasOf(id) || id, id);
}

/** This thread's owner id is `id`, and its local id `local` (0: none). */
function become(id: number, local: number): void {
  myId = id;
  myLocal = local;
  if (local === 0) myState = undefined; // a stop request is a local slot's bit
  else [myState, myStateIndex] = processRegistry().stateWord(local);
  onWaitSlice(haltIfStopped);
}
