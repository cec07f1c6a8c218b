/**
 * The robust mutex word under Lock, RLock and every structure's internal
 * writer lock: `0` is free, otherwise the owner's id (thread registry) with
 * the {@linkcode WAITERS} bit set once someone sleeps on it.
 *
 * A waiter re-checks after every wait slice whether the owner's id is marked
 * dead; if so it takes the word over and reports `ownerDied`.
 *
 * **Fairness**: none (barging allowed); a releaser wakes one sleeper.
 * **Cancellation**: a wait that times out or aborts leaves the word as it was
 * (at worst with a stale WAITERS bit, which costs one spurious notify).
 * @module
 */
import { isDead } from "../transports/_runtime/threads.ts";
import { type Deadline, runAsync, runSync, SPINS, type WaitLoop, wake } from "./_kernel.ts";

/** Set in the word while at least one thread may be sleeping on it. */
export const WAITERS = 0x40000000;
/** The owner id bits of the word. */
export const OWNER_MASK = 0x3fffffff;

/** Outcome of an acquisition. */
export const ACQUIRED = 0;
/** Acquired, and the previous owner had died holding it. */
export const ACQUIRED_OWNER_DIED = 1;
/** The deadline passed. */
export const TIMED_OUT = 2;
/** The signal aborted. */
export const ABORTED = 3;

/** Outcome of {@linkcode lockSync} / {@linkcode lockAsync}. */
export type LockOutcome = typeof ACQUIRED | typeof ACQUIRED_OWNER_DIED | typeof TIMED_OUT | typeof ABORTED;

/** One compare-and-swap from free to owned; true when it won. */
export function tryLock(i32: Int32Array, index: number, id: number): boolean {
  return Atomics.compareExchange(i32, index, 0, id) === 0;
}

/** Takes the word over from a dead owner, if `v` still holds and its owner is dead. */
function tryTakeOver(i32: Int32Array, index: number, v: number, id: number): boolean {
  return isDead(v & OWNER_MASK) && Atomics.compareExchange(i32, index, v, id | WAITERS) === v;
}

function spinForFree(i32: Int32Array, index: number, id: number): boolean {
  for (let i = 0; i < SPINS; i++) {
    if (Atomics.load(i32, index) === 0 && Atomics.compareExchange(i32, index, 0, id) === 0) return true;
  }
  return false;
}

/** Marks the word contended; returns the value to sleep on, or 0 if it became free. */
function markWaiting(i32: Int32Array, index: number, v: number): number {
  if (v & WAITERS) return v;
  const w = v | WAITERS;
  const seen = Atomics.compareExchange(i32, index, v, w);
  return seen === v ? w : seen === 0 ? 0 : (seen & WAITERS ? seen : -1);
}

/** The slow path of an acquisition, for either driver: sleeps on the word until it is ours. */
function* lockLoop(i32: Int32Array, index: number, id: number, deadline: Deadline): WaitLoop<LockOutcome> {
  for (;;) {
    const v = Atomics.load(i32, index);
    if (v === 0) {
      // others may sleep: keep the bit so that our release wakes them
      if (Atomics.compareExchange(i32, index, 0, id | WAITERS) === 0) return ACQUIRED;
      continue;
    }
    if (tryTakeOver(i32, index, v, id)) return ACQUIRED_OWNER_DIED;
    const w = markWaiting(i32, index, v);
    if (w <= 0) continue;
    if (!(yield { i32, index, expected: w, deadline })) return TIMED_OUT;
  }
}

/** Blocks the calling thread until the word is owned by `id`, or the deadline passes. */
export function lockSync(i32: Int32Array, index: number, id: number, deadline: Deadline): LockOutcome {
  if (tryLock(i32, index, id) || spinForFree(i32, index, id)) return ACQUIRED;
  return runSync(lockLoop(i32, index, id, deadline));
}

/** The asynchronous twin of {@linkcode lockSync}; never blocks the event loop. */
export function lockAsync(
  i32: Int32Array,
  index: number,
  id: number,
  deadline: Deadline,
  signal: AbortSignal | undefined,
): Promise<LockOutcome> {
  if (tryLock(i32, index, id) || spinForFree(i32, index, id)) return Promise.resolve(ACQUIRED);
  return runAsync(lockLoop(i32, index, id, deadline), signal, () => ABORTED);
}

/** Releases the word if `id` owns it; false when it does not. Wakes one sleeper. */
export function unlock(i32: Int32Array, index: number, id: number): boolean {
  // fast path: uncontended
  if (Atomics.compareExchange(i32, index, id, 0) === id) return true;
  const v = Atomics.load(i32, index);
  if ((v & OWNER_MASK) !== id) return false;
  const old = Atomics.exchange(i32, index, 0);
  if (old & WAITERS) wake(i32, index, 1);
  return true;
}

/** The id owning the word, or 0. */
export function ownerOf(i32: Int32Array, index: number): number {
  return Atomics.load(i32, index) & OWNER_MASK;
}
