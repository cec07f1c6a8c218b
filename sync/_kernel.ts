/**
 * The one waiting kernel of procshare: a futex-style Int32 word with
 * spin-then-wait. `Atomics.wait` serves synchronous callers,
 * `Atomics.waitAsync` asynchronous ones. Lock, Semaphore, Condition, Event,
 * Barrier and the bounded Queue all wait here.
 *
 * **Fairness**: none. Waking is FIFO in the engines but a spinning newcomer
 * may barge ahead of a woken waiter, as with a Linux futex mutex.
 *
 * **Visibility**: every state change goes through `Atomics` (sequentially
 * consistent), so a waiter that wakes sees everything written before the
 * change that woke it.
 *
 * Waits are cut into slices of at most {@linkcode SLICE_MS} so that callers
 * can re-check for dead owners and so that an abandoned `waitAsync` never
 * outlives its caller by more than one slice.
 * @module
 */
import { LockError } from "../errors.ts";

/** Longest single wait before the caller re-checks its condition. */
export const SLICE_MS = 200;
/** Spins before a waiter blocks. */
export const SPINS = 64;

/** A point in time after which a blocking call gives up. */
export type Deadline = number;

/** Options every blocking call takes. */
export interface WaitOptions {
  /** Milliseconds to wait at most; `undefined` waits forever, 0 does not wait. */
  readonly timeout?: number;
  /** Cancels the wait; the call then fails with reason `Aborted`. */
  readonly signal?: AbortSignal;
}

/** Validates a timeout and turns it into a deadline (Infinity for none). */
export function deadlineOf(timeout: number | undefined, what: string): Deadline {
  if (timeout === undefined || timeout === Infinity) return Infinity;
  if (typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0) {
    throw new TypeError(`Cannot ${what} as 'timeout' must be a non-negative number: received ${timeout}`);
  }
  return performance.now() + timeout;
}

/** Milliseconds left before a deadline, capped at one slice. */
export function sliceLeft(deadline: Deadline): number {
  if (deadline === Infinity) return SLICE_MS;
  const left = deadline - performance.now();
  return left <= 0 ? 0 : Math.min(left, SLICE_MS);
}

/**
 * Blocks the calling thread until `i32[index]` is no longer `expected`, a
 * notify arrives, or one slice (or less, before the deadline) elapsed.
 * Returns false when the deadline has passed.
 */
export function waitSlice(i32: Int32Array, index: number, expected: number, deadline: Deadline): boolean {
  const ms = sliceLeft(deadline);
  if (ms <= 0) return false;
  Atomics.wait(i32, index, expected, ms);
  return true;
}

const waitAsyncImpl = (Atomics as unknown as {
  waitAsync(
    i32: Int32Array,
    index: number,
    value: number,
    timeout?: number,
  ): { async: boolean; value: Promise<"ok" | "timed-out"> | "not-equal" | "timed-out" };
}).waitAsync;

/** The asynchronous twin of {@linkcode waitSlice}; rejects when the signal aborts. */
export async function waitSliceAsync(
  i32: Int32Array,
  index: number,
  expected: number,
  deadline: Deadline,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const ms = sliceLeft(deadline);
  if (ms <= 0) return false;
  const r = waitAsyncImpl(i32, index, expected, ms);
  if (!r.async) return true;
  // A pending waitAsync does not keep Node's event loop alive; a timer of the
  // same length does, and bounds the wait even where waitAsync's own timeout
  // is late.
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const waits: Promise<unknown>[] = [
    r.value as Promise<unknown>,
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms + 1))),
  ];
  if (signal) {
    waits.push(
      new Promise<void>((resolve) => {
        onAbort = resolve;
        signal.addEventListener("abort", onAbort, { once: true });
      }),
    );
  }
  let settled = false;
  // An abandoned waitAsync stays registered: if a notify later lands on it,
  // pass that wake-up on, or the next real waiter would sleep a whole slice.
  (r.value as Promise<string>).then((v) => {
    if (settled && v === "ok") Atomics.notify(i32, index, 1);
  });
  try {
    await Promise.race(waits);
  } finally {
    settled = true;
    clearTimeout(timer);
    if (onAbort) signal!.removeEventListener("abort", onAbort);
  }
  return true;
}

/** Spins briefly while `i32[index] === expected`; true when it changed. */
export function spinWhile(i32: Int32Array, index: number, expected: number): boolean {
  for (let i = 0; i < SPINS; i++) {
    if (Atomics.load(i32, index) !== expected) return true;
  }
  return false;
}

/** Wakes up to `count` waiters on `i32[index]`. */
export function wake(i32: Int32Array, index: number, count = 1): void {
  Atomics.notify(i32, index, count);
}

/** Throws the typed abort error when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string, make = lockAborted): void {
  if (signal?.aborted) throw make(what, signal.reason);
}

function lockAborted(what: string, reason: unknown): Error {
  return new LockError("Aborted", `Cannot ${what} as the signal was aborted`, { cause: reason });
}
