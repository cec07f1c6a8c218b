/**
 * Owner ids shared by the processes of an `shm:` region (SHM.md §6): the
 * engines' lock words hold a 30-bit owner id, which between processes must
 * be unique across them and tell, to any of them, whether its owner died.
 *
 * A registry of slots lives in the region; an id is
 * `FOREIGN_ID_BIT | generation << 16 | slot`, so that `threads.ts` knows to
 * ask this registry about it (process-local ids never have that bit). A
 * slot holds a state word (generation, dead bit) and the identity of the
 * process whose thread holds it: pid and start time (`/proc/<pid>/stat`
 * field 22). An id is dead when its slot is marked dead, when the slot moved
 * on to a new generation, or — the cross-process case, checked only on the
 * slow path of a waiter — when its process is gone: no such pid, a zombie,
 * or a pid reused by a process that started at another time. The finder
 * marks the slot dead, so the check is paid once.
 *
 * Layout (Int32 words from `base`): [magic, next fresh slot, scan cursor,
 * slots], then per slot s (1..slots) 4 words: state, pid, start time low 32
 * bits, high bits.
 * @module
 */
import type { Ffi } from "./_ffi.ts";
import { isAlive, type ProcessIdentity, selfIdentity } from "./_liveness.ts";
import { FOREIGN_ID_BIT, type ForeignIds } from "../_runtime/threads.ts";

const MAGIC = 0x70734f57; // "psOW"
const W_MAGIC = 0;
const W_NEXT = 1;
const W_CURSOR = 2;
const W_SLOTS = 3;
const HEADER_WORDS = 4;
const SLOT_WORDS = 4;
const S_STATE = 0;
const S_PID = 1;
const S_START_LO = 2;
const S_START_HI = 3;

const SLOT_BITS = 16;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
/** Generations before a slot's wraps (ids stay below FOREIGN_ID_BIT << 1). */
const GEN_MASK = (1 << 13) - 1;
const DEAD_BIT = 1 << 14;

/** The registry of owner ids in a region's memory, as one process sees it. */
export class ShmOwners implements ForeignIds {
  /** Bytes a registry of `slots` slots takes. */
  static bytes(slots: number): number {
    return (HEADER_WORDS + (slots + 1) * SLOT_WORDS) * 4;
  }

  readonly #i32: Int32Array;
  readonly #base: number;
  readonly #slots: number;
  readonly #ffi: Ffi;
  readonly #me: ProcessIdentity;

  /**
   * Over `i32` (a region's words) at word `base`: lays a registry of `slots`
   * slots out if the words are still zero, or joins the one there.
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
    if (Atomics.compareExchange(i32, base + W_MAGIC, 0, MAGIC) === 0) Atomics.store(i32, base + W_SLOTS, slots);
    else if (Atomics.load(i32, base + W_MAGIC) !== MAGIC) {
      throw new RangeError(`Cannot join an owner registry as the words at ${base} are not one`);
    }
    this.#slots = Math.min(slots, Atomics.load(i32, base + W_SLOTS) || slots);
  }

  #at(slot: number, word: number): number {
    return this.#base + HEADER_WORDS + slot * SLOT_WORDS + word;
  }

  /** A fresh id for a thread of this process, or 0 when every slot holds a live owner. */
  tryAllocate(): number {
    const i = this.#i32;
    const next = this.#base + W_NEXT;
    for (let n = Atomics.load(i, next); n < this.#slots; n = Atomics.load(i, next)) {
      if (Atomics.compareExchange(i, next, n, n + 1) === n) return this.#claim(n + 1, 0);
    }
    const start = Atomics.load(i, this.#base + W_CURSOR) % this.#slots;
    for (let k = 0; k < this.#slots; k++) {
      const s = ((start + k) % this.#slots) + 1;
      const w = Atomics.load(i, this.#at(s, S_STATE));
      if ((w & DEAD_BIT) === 0 && !this.#processGone(s)) continue;
      const gen = ((w & GEN_MASK) + 1) & GEN_MASK;
      if (Atomics.compareExchange(i, this.#at(s, S_STATE), w, gen) !== w) continue;
      Atomics.store(i, this.#base + W_CURSOR, s % this.#slots);
      return this.#claim(s, gen);
    }
    return 0;
  }

  #claim(slot: number, gen: number): number {
    const i = this.#i32;
    Atomics.store(i, this.#at(slot, S_PID), this.#me.pid);
    Atomics.store(i, this.#at(slot, S_START_LO), this.#me.startTime % 0x1_0000_0000 | 0);
    Atomics.store(i, this.#at(slot, S_START_HI), Math.floor(this.#me.startTime / 0x1_0000_0000));
    Atomics.store(i, this.#at(slot, S_STATE), gen); // states of a fresh slot and a reused one both end here
    return FOREIGN_ID_BIT | gen << SLOT_BITS | slot;
  }

  /** A fresh id; `RangeError` when every slot holds a live owner. */
  allocate(): number {
    const id = this.tryAllocate();
    if (id === 0) {
      throw new RangeError(`Cannot allocate an owner id as all ${this.#slots} slots of the region hold live ones`);
    }
    return id;
  }

  /** True when the slot's process is gone (checked through /proc: only on slow paths). */
  #processGone(slot: number): boolean {
    const i = this.#i32;
    const pid = Atomics.load(i, this.#at(slot, S_PID));
    if (pid === 0) return false; // being claimed
    if (pid === this.#me.pid) return false; // a thread of this process: its parent marks it dead
    const startTime = (Atomics.load(i, this.#at(slot, S_START_LO)) >>> 0) +
      Atomics.load(i, this.#at(slot, S_START_HI)) * 0x1_0000_0000;
    return !isAlive(this.#ffi, { pid, startTime });
  }

  isDead(id: number): boolean {
    const s = id & SLOT_MASK;
    if ((id & FOREIGN_ID_BIT) === 0 || s === 0 || s > this.#slots) return false;
    const gen = (id >>> SLOT_BITS) & GEN_MASK;
    const at = this.#at(s, S_STATE);
    const w = Atomics.load(this.#i32, at);
    if ((w & DEAD_BIT) !== 0 || (w & GEN_MASK) !== gen) return true;
    if (!this.#processGone(s)) return false;
    Atomics.compareExchange(this.#i32, at, w, w | DEAD_BIT);
    return true;
  }

  markDead(id: number): void {
    const s = id & SLOT_MASK;
    if ((id & FOREIGN_ID_BIT) === 0 || s === 0 || s > this.#slots) return;
    const gen = (id >>> SLOT_BITS) & GEN_MASK;
    Atomics.compareExchange(this.#i32, this.#at(s, S_STATE), gen, gen | DEAD_BIT);
  }
}
