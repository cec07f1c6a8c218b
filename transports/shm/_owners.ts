/**
 * Owner ids shared by processes (SHM.md §6): the engines' lock words hold a
 * 30-bit owner id, which between processes must be unique across them and
 * tell, to any of them, whether its owner died.
 *
 * A registry of slots lives in shared memory; an id is
 * `FOREIGN_ID_BIT | generation << 16 | slot`, so that `threads.ts` knows to
 * ask this registry about it (process-local ids never have that bit). A
 * slot holds a state word (generation, dead bit, claiming bit) and the
 * identity of the thread that holds it: its process's pid and start time
 * (`/proc/<pid>/stat` field 22), and the thread's id and start time
 * (`/proc/<pid>/task/<tid>/stat`). An id is dead when its slot is marked
 * dead, when the slot moved on to a new generation, or — checked only on
 * the slow path of a waiter — when its process is gone (no such pid, a
 * zombie, or a pid reused by a process that started at another time) or its
 * thread ended while the process runs on. The finder marks the slot dead, so
 * the check is paid once.
 *
 * **One registry per user** ({@linkcode ShmOwners.session}): the region
 * `/dev/shm/procshare-owners-<uid>`, created by the first process that
 * needs it and used by every `shm:` manager, so that a thread has one id
 * whatever managers it uses, and the ids of two managers never collide. It
 * is never unlinked (a sweep could race a process joining it); its 256 KiB
 * are committed once, and slots of dead owners are reused.
 *
 * **Ids for threads to come.** {@linkcode ShmOwners.reserve} hands out an
 * id for a worker thread about to start (no thread recorded yet: it lives
 * while its process does, or until marked dead); the worker records itself
 * with {@linkcode ShmOwners.adopt} when it joins the registry.
 *
 * Layout (Int32 words from `base`): [magic, next fresh slot, scan cursor,
 * slots], then per slot s (1..slots) 8 words: state, pid, process start time
 * low 32 bits, high bits, thread id, thread start time low, high, unused.
 *
 * @example Two processes' worth of ids from one registry
 * ```ts
 * import { loadFfi } from "./_ffi.ts";
 * import { ShmOwners } from "./_owners.ts";
 * const ffi = await loadFfi();
 * const owners = new ShmOwners(ffi, new Int32Array(ShmOwners.bytes(8) / 4), 0, 8);
 * const a = owners.allocate(), b = owners.reserve();
 * owners.markDead(b);
 * console.log(a !== b, owners.isDead(a), owners.isDead(b)); // true false true
 * ```
 * @module
 */
import { SharedMemoryError } from "../../errors.ts";
import type { Ffi } from "./_ffi.ts";
import { isAlive, isThreadAlive, type ProcessIdentity, selfIdentity, selfThread, selfUid } from "./_liveness.ts";
import { ShmRegion } from "./_region.ts";
import { nap } from "../../sync/_kernel.ts";
import { FOREIGN_ID_BIT, type ForeignIds } from "../_runtime/threads.ts";

const MAGIC = 0x7073_4f32; // "psO2": slots of 8 words
const W_MAGIC = 0;
const W_NEXT = 1;
const W_CURSOR = 2;
const W_SLOTS = 3;
const HEADER_WORDS = 4;
const SLOT_WORDS = 8;
const S_STATE = 0;
const S_PID = 1;
const S_START_LO = 2;
const S_START_HI = 3;
const S_TID = 4;
const S_TSTART_LO = 5;
const S_TSTART_HI = 6;

const SLOT_BITS = 16;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
/** Generations before a slot's wraps (ids stay below FOREIGN_ID_BIT << 1). */
const GEN_MASK = (1 << 13) - 1;
const DEAD_BIT = 1 << 14;
/** Set while a reused slot's owner is being written: its owner is neither checked nor dead. */
const CLAIMING_BIT = 1 << 15;

/** Slots of the per-user registry: threads using `shm:` at once, across the user's processes. */
export const SESSION_SLOTS = 8191;
/** How long a joiner waits for the registry file's creator to size it before giving up. */
const SESSION_WAIT_MS = 2_000;

/** This thread's view of the per-user registry (module state is per thread). */
let session: ShmOwners | undefined;

/** The registry of owner ids in shared memory, as one thread of one process sees it. */
export class ShmOwners implements ForeignIds {
  /** Bytes a registry of `slots` slots takes. */
  static bytes(slots: number): number {
    return (HEADER_WORDS + (slots + 1) * SLOT_WORDS) * 4;
  }

  /**
   * The per-user registry, `/dev/shm/procshare-owners-<uid>`: opened, or
   * created (exclusively, mode 0600) by the first process to need it; one
   * view per thread. A file of another layout, or one its creator never
   * sized, is a `SharedMemoryError("Unavailable")` naming it.
   *
   * @example Every manager's ids come from here
   * ```ts
   * import { loadFfi } from "./_ffi.ts";
   * import { ShmOwners } from "./_owners.ts";
   * const owners = ShmOwners.session(await loadFfi());
   * console.log(owners.slots); // 8191
   * ```
   */
  static session(ffi: Ffi): ShmOwners {
    if (session !== undefined) return session;
    const uid = selfUid(ffi);
    const name = `procshare-owners-${uid ?? "unknown"}`;
    const bytes = ShmOwners.bytes(SESSION_SLOTS);
    let region: ShmRegion | undefined;
    for (let waited = 0; region === undefined; waited++) {
      try {
        region = ShmRegion.open(ffi, name, { minBytes: bytes });
        break;
      } catch (e) {
        const notFound = e instanceof SharedMemoryError && e.reason === "NotFound";
        // a file shorter than the registry: its creator has yet to size it (or died doing so)
        if (!notFound && !(e instanceof SharedMemoryError && e.reason === "Unavailable")) throw e;
        if (!notFound) {
          if (waited >= SESSION_WAIT_MS) {
            throw new SharedMemoryError(
              "Unavailable",
              `Cannot join the owner registry as its file is not one of ${bytes} bytes (its creator may have died making it; remove it): received /dev/shm/${name}`,
              { cause: e },
            );
          }
          nap(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
          continue;
        }
      }
      try {
        region = ShmRegion.create(ffi, { name, maxBytes: bytes, initialBytes: bytes });
      } catch (e) {
        if (!(e instanceof SharedMemoryError && e.reason === "Exists")) throw e; // another process made it first
      }
    }
    session = new ShmOwners(ffi, region.i32, 0, SESSION_SLOTS);
    return session;
  }

  readonly #i32: Int32Array;
  readonly #base: number;
  readonly #slots: number;
  readonly #ffi: Ffi;
  readonly #me: ProcessIdentity;
  readonly #thread: ProcessIdentity | undefined;

  /**
   * Over `i32` (a region's words) at word `base`: lays a registry of `slots`
   * slots out if the words are still zero, or joins the one there. Ids it
   * allocates belong to the calling thread.
   */
  constructor(ffi: Ffi, i32: Int32Array, base: number, slots: number) {
    if (!Number.isInteger(slots) || slots < 1 || slots > SLOT_MASK) {
      throw new RangeError(`Cannot make an owner registry as slots must be in [1, ${SLOT_MASK}]: received ${slots}`);
    }
    if (base < 0 || (base + ShmOwners.bytes(slots) / 4) > i32.length) {
      throw new RangeError(`Cannot make an owner registry as it does not fit the region: received base ${base}`);
    }
    this.#ffi = ffi;
    this.#i32 = i32;
    this.#base = base;
    this.#me = selfIdentity(ffi);
    this.#thread = selfThread(ffi);
    if (Atomics.compareExchange(i32, base + W_MAGIC, 0, MAGIC) === 0) Atomics.store(i32, base + W_SLOTS, slots);
    else if (Atomics.load(i32, base + W_MAGIC) !== MAGIC) {
      throw new RangeError(`Cannot join an owner registry as the words at ${base} are not one`);
    }
    this.#slots = Math.min(slots, Atomics.load(i32, base + W_SLOTS) || slots);
  }

  /** Usable slots: the most owners alive at once. */
  get slots(): number {
    return this.#slots;
  }

  #at(slot: number, word: number): number {
    return this.#base + HEADER_WORDS + slot * SLOT_WORDS + word;
  }

  /** A fresh id for the calling thread, or 0 when every slot holds a live owner. */
  tryAllocate(): number {
    return this.#take(this.#thread);
  }

  /** A fresh id; `RangeError` when every slot holds a live owner. */
  allocate(): number {
    return this.#must(this.#take(this.#thread));
  }

  /**
   * A fresh id for a thread of this process that has yet to start: alive
   * while this process is, until marked dead, or until the thread
   * {@linkcode adopt}s it. `RangeError` when every slot holds a live owner.
   */
  reserve(): number {
    return this.#must(this.#take(undefined));
  }

  /**
   * Records the calling thread as the owner of `id`, reserved for it by
   * {@linkcode reserve} in this process; false when the id is dead, not this
   * process's, or not this registry's (the caller then takes a fresh one).
   */
  adopt(id: number): boolean {
    const s = id & SLOT_MASK;
    if ((id & FOREIGN_ID_BIT) === 0 || s === 0 || s > this.#slots) return false;
    const i = this.#i32;
    const gen = (id >>> SLOT_BITS) & GEN_MASK;
    const at = this.#at(s, S_STATE);
    if (Atomics.compareExchange(i, at, gen, gen | CLAIMING_BIT) !== gen) return false;
    const mine = Atomics.load(i, this.#at(s, S_PID)) === this.#me.pid &&
      this.#startOf(s, S_START_LO) === this.#me.startTime;
    if (mine) this.#writeThread(s, this.#thread);
    Atomics.and(i, at, ~CLAIMING_BIT); // a markDead meanwhile stays
    return mine;
  }

  #must(id: number): number {
    if (id === 0) {
      throw new RangeError(`Cannot allocate an owner id as all ${this.#slots} slots of the registry hold live ones`);
    }
    return id;
  }

  #take(thread: ProcessIdentity | undefined): number {
    const i = this.#i32;
    const next = this.#base + W_NEXT;
    for (let n = Atomics.load(i, next); n < this.#slots; n = Atomics.load(i, next)) {
      if (Atomics.compareExchange(i, next, n, n + 1) === n) return this.#claim(n + 1, 0, thread);
    }
    const start = Atomics.load(i, this.#base + W_CURSOR) % this.#slots;
    for (let k = 0; k < this.#slots; k++) {
      const s = ((start + k) % this.#slots) + 1;
      const w = Atomics.load(i, this.#at(s, S_STATE));
      if ((w & CLAIMING_BIT) !== 0 || ((w & DEAD_BIT) === 0 && !this.#ownerGone(s))) continue;
      const gen = ((w & GEN_MASK) + 1) & GEN_MASK;
      if (Atomics.compareExchange(i, this.#at(s, S_STATE), w, gen | CLAIMING_BIT) !== w) continue;
      Atomics.store(i, this.#base + W_CURSOR, s % this.#slots);
      return this.#claim(s, gen, thread);
    }
    return 0;
  }

  /** Writes the owner of a slot won (fresh: state 0; reused: claiming), then its state. */
  #claim(slot: number, gen: number, thread: ProcessIdentity | undefined): number {
    const i = this.#i32;
    Atomics.store(i, this.#at(slot, S_START_LO), this.#me.startTime % 0x1_0000_0000 | 0);
    Atomics.store(i, this.#at(slot, S_START_HI), Math.floor(this.#me.startTime / 0x1_0000_0000));
    this.#writeThread(slot, thread);
    Atomics.store(i, this.#at(slot, S_PID), this.#me.pid); // a fresh slot's pid 0 reads as "being claimed"
    Atomics.store(i, this.#at(slot, S_STATE), gen);
    return FOREIGN_ID_BIT | gen << SLOT_BITS | slot;
  }

  #writeThread(slot: number, thread: ProcessIdentity | undefined): void {
    const i = this.#i32;
    const t = thread?.startTime ?? 0;
    Atomics.store(i, this.#at(slot, S_TSTART_LO), t % 0x1_0000_0000 | 0);
    Atomics.store(i, this.#at(slot, S_TSTART_HI), Math.floor(t / 0x1_0000_0000));
    Atomics.store(i, this.#at(slot, S_TID), thread?.pid ?? 0);
  }

  #startOf(slot: number, lo: number): number {
    return (Atomics.load(this.#i32, this.#at(slot, lo)) >>> 0) +
      Atomics.load(this.#i32, this.#at(slot, lo + 1)) * 0x1_0000_0000;
  }

  /**
   * True when the slot's owner is gone: its process (by pid and start time),
   * or its thread while the process runs on (by thread id and start time).
   * Reads /proc: only on slow paths.
   */
  #ownerGone(slot: number): boolean {
    const i = this.#i32;
    const pid = Atomics.load(i, this.#at(slot, S_PID));
    if (pid === 0) return false; // being claimed
    if (pid !== this.#me.pid && !isAlive(this.#ffi, { pid, startTime: this.#startOf(slot, S_START_LO) })) return true;
    const tid = Atomics.load(i, this.#at(slot, S_TID));
    if (tid === 0 || tid === pid) return false; // reserved for a thread to come, or a main thread (its process is alive)
    if (pid === this.#me.pid && tid === this.#thread?.pid) return false; // the caller
    return !isThreadAlive(this.#ffi, pid, { pid: tid, startTime: this.#startOf(slot, S_TSTART_LO) });
  }

  /** True when the id's owner is known to have ended (marked dead, its slot reused, its process or thread gone). */
  isDead(id: number): boolean {
    const s = id & SLOT_MASK;
    if ((id & FOREIGN_ID_BIT) === 0 || s === 0 || s > this.#slots) return false;
    const gen = (id >>> SLOT_BITS) & GEN_MASK;
    const at = this.#at(s, S_STATE);
    const w = Atomics.load(this.#i32, at);
    if ((w & DEAD_BIT) !== 0 || (w & GEN_MASK) !== gen) return true;
    if ((w & CLAIMING_BIT) !== 0 || !this.#ownerGone(s)) return false;
    Atomics.compareExchange(this.#i32, at, w, w | DEAD_BIT);
    return true;
  }

  /** Marks the id dead: locks it holds pass on, and its slot may be reused (a no-op for an id already dead). */
  markDead(id: number): void {
    const s = id & SLOT_MASK;
    if ((id & FOREIGN_ID_BIT) === 0 || s === 0 || s > this.#slots) return;
    const gen = (id >>> SLOT_BITS) & GEN_MASK;
    const at = this.#at(s, S_STATE);
    for (;;) {
      const w = Atomics.load(this.#i32, at);
      if ((w & GEN_MASK) !== gen || (w & DEAD_BIT) !== 0) return;
      if (Atomics.compareExchange(this.#i32, at, w, w | DEAD_BIT) === w) return;
    }
  }
}
