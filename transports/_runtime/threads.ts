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
  allocate(): number;
  isDead(id: number): boolean;
  markDead(id: number): void;
}

let foreign: ForeignIds | undefined;

/**
 * From now on this thread's id (if it has none yet) and the ids of the
 * threads it spawns come from `ids`, a registry shared with other processes,
 * and ids carrying {@linkcode FOREIGN_ID_BIT} are resolved there. Lock words
 * already written with process-local ids keep being resolved locally.
 */
export function useForeignIds(ids: ForeignIds): void {
  foreign = ids;
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
    return (R_STATES + slots + 1) * 4;
  }

  readonly #i32: Int32Array;
  readonly #slots: number;

  /** Wraps `buffer`, made with at least {@linkcode IdRegistry.bytes} bytes (zeroed, or an existing registry's). */
  constructor(buffer: SharedArrayBuffer) {
    this.#i32 = new Int32Array(buffer);
    this.#slots = Math.min(this.#i32.length - R_STATES - 1, MAX_IDS - 1); // a slot must fit SLOT_MASK
    if (this.#slots < 1) {
      throw new RangeError(`Cannot use an id registry as its buffer is too small: received ${buffer.byteLength} bytes`);
    }
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

  /** True when the id's thread or connection is known to have ended (its slot dead, or reused since). */
  isDead(id: number): boolean {
    const s = id & SLOT_MASK;
    if (id <= 0 || s === 0 || s > this.#slots) return false;
    const w = Atomics.load(this.#i32, R_STATES + s);
    return (w & DEAD_BIT) !== 0 || (w & GEN_MASK) !== id >>> SLOT_BITS;
  }
}

let registry: IdRegistry | undefined;
let myId = 0;

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
  if (myId === 0) setThreadId(foreign !== undefined ? foreign.allocate() : allocateId());
  else if (myState !== undefined && (Atomics.load(myState, myStateIndex) & STOP_BIT) !== 0) haltIfStopped();
  return myId;
}

/**
 * If this thread was asked to stop: marks its id dead (what it held passes
 * on, told `ownerDied`) and blocks this thread for good, so that a thread
 * its runtime failed to stop never writes shared state again.
 */
export function haltIfStopped(): void {
  if (myId === 0 || !processRegistry().stopRequested(myId)) return;
  processRegistry().markDead(myId);
  const forever = new Int32Array(new SharedArrayBuffer(4));
  for (;;) nap(forever, 0, 0, 60_000);
}

/** Asks the thread of `id` to stop at its next procshare call or wait slice. */
export function requestStop(id: number): void {
  processRegistry().requestStop(id);
}

/** True when the thread of `id` was asked to stop and has not marked itself dead yet. */
export function stopRequested(id: number): boolean {
  return processRegistry().stopRequested(id);
}

/** Marks an id dead: locks it holds become free for the taking, and its slot may be reused. */
export function markDead(id: number): void {
  if ((id & FOREIGN_ID_BIT) !== 0) foreign?.markDead(id);
  else processRegistry().markDead(id);
}

/** True when the id's thread or connection is known to have ended. */
export function isDead(id: number): boolean {
  if ((id & FOREIGN_ID_BIT) !== 0) return foreign !== undefined && foreign.isDead(id);
  return processRegistry().isDead(id);
}

/**
 * Reserves an id for a worker about to start, so that its parent can mark it
 * dead when it exits even if it never ran a line.
 */
export function reserveWorkerId(): number {
  return allocateId();
}

/** Sets this thread's id (a spawned worker gets the one its parent reserved). */
export function setThreadId(id: number): void {
  myId = id;
  if ((id & FOREIGN_ID_BIT) !== 0) myState = undefined; // a stop request is a local slot's bit
  else [myState, myStateIndex] = processRegistry().stateWord(id);
  onWaitSlice(haltIfStopped);
}
