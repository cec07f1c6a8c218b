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
 *
 * **Foreign memory**: a word whose buffer is not a `SharedArrayBuffer` (a
 * `/dev/shm` mapping of `shm:`, shared between processes) is waited on and
 * woken through the {@linkcode ForeignWaiter} registered for its buffer
 * ({@linkcode registerForeignBuffer}); `Atomics.wait` would throw there and
 * `Atomics.notify` would silently wake nobody. The lookup happens only once
 * some buffer was registered, and only for a buffer that is not a
 * `SharedArrayBuffer`: the shared-buffer path is unchanged. This module
 * imports no FFI: `shm:` registers its buffers itself.
 * @module
 */
import { LockError } from "../errors.ts";

/** Longest single wait before the caller re-checks its condition. */
export const SLICE_MS = 200;
/** Spins before a waiter blocks. */
export const SPINS = 64;

/** How a wait on a word ended, as `Atomics.wait` says it. */
export type WaitResult = "ok" | "timed-out" | "not-equal";

/**
 * Waits and wakes on the words of a buffer that is not a
 * `SharedArrayBuffer` (memory shared between processes): what `Atomics`
 * does for a `SharedArrayBuffer`. `i32` is a view of the registered buffer,
 * at any `byteOffset`; `index` counts from the view's start.
 */
export interface ForeignWaiter {
  /** Blocks while `i32[index] === expected`, at most `ms`, until a `notify` (from any process). */
  wait(i32: Int32Array, index: number, expected: number, ms: number): WaitResult;
  /** The same without blocking the event loop; `"ok"` also when `signal` aborts (callers re-check). */
  waitAsync(i32: Int32Array, index: number, expected: number, ms: number, signal?: AbortSignal): Promise<WaitResult>;
  /** Wakes up to `count` waiters on `i32[index]`, in every process; returns how many woke. */
  notify(i32: Int32Array, index: number, count: number): number;
}

/** The waiters of foreign buffers; undefined until one is registered, so that the SAB path pays nothing. */
let foreign: WeakMap<ArrayBufferLike, ForeignWaiter> | undefined;

/**
 * Makes the kernel wait and wake on views of `buffer` (not a
 * `SharedArrayBuffer`) through `waiter`. A buffer registered again gets the
 * new waiter.
 *
 * @example A waiter for a plain buffer (one thread: nothing to wait for)
 * ```ts
 * import { registerForeignBuffer, wake, type WaitResult } from "./_kernel.ts";
 * const buffer = new ArrayBuffer(64);
 * let woken = 0;
 * registerForeignBuffer(buffer, {
 *   wait: (i32, i, v): WaitResult => Atomics.load(i32, i) === v ? "timed-out" : "not-equal",
 *   waitAsync: (i32, i, v) => Promise.resolve<WaitResult>(Atomics.load(i32, i) === v ? "timed-out" : "not-equal"),
 *   notify: () => (woken++, 0),
 * });
 * wake(new Int32Array(buffer), 0);
 * console.log(woken); // 1
 * ```
 */
export function registerForeignBuffer(buffer: ArrayBuffer, waiter: ForeignWaiter): void {
  if (buffer instanceof SharedArrayBuffer) {
    throw new TypeError(
      "Cannot register foreign buffer as a SharedArrayBuffer is waited on with Atomics: received a SharedArrayBuffer",
    );
  }
  foreign ??= new WeakMap();
  foreign.set(buffer, waiter);
}

/** The waiter of `i32`'s buffer when it is a registered foreign one, else undefined (use `Atomics`). */
function foreignOf(i32: Int32Array): ForeignWaiter | undefined {
  if (foreign === undefined) return undefined;
  const buffer = i32.buffer;
  return buffer instanceof SharedArrayBuffer ? undefined : foreign.get(buffer);
}

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
  const f = foreignOf(i32);
  if (f !== undefined) f.wait(i32, index, expected, ms);
  else Atomics.wait(i32, index, expected, ms);
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
  const f = foreignOf(i32);
  if (f !== undefined) {
    // the waiter settles on its own timeout or on the signal, and leaves no wait behind
    await f.waitAsync(i32, index, expected, ms, signal);
    return true;
  }
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

/**
 * What a wait loop asks its driver for: block while `i32[index] === expected`
 * for at most one slice before `deadline`, after spinning briefly when `spin`.
 */
export interface Sleep {
  readonly i32: Int32Array;
  readonly index: number;
  readonly expected: number;
  readonly deadline: Deadline;
  readonly spin?: boolean;
}

/**
 * A blocking slow path, written once for both drivers: a generator that
 * yields a {@linkcode Sleep} whenever it must wait and returns its result.
 * Each `yield` evaluates to `true` after a slice (woken, changed, or the slice
 * elapsed) and to `false` once the deadline has passed. Cleanup (sleeper
 * counts, passing a wake-up on) belongs in `finally`: when the signal aborts,
 * the async driver ends the generator with `return()`, so the loop never
 * resumes after an abort and takes nothing.
 *
 * @example A loop that waits for a word to become non-zero
 * ```ts
 * import { runSync, type WaitLoop } from "./_kernel.ts";
 * const i32 = new Int32Array(new SharedArrayBuffer(4));
 * function* nonZero(deadline: number): WaitLoop<boolean> {
 *   while (Atomics.load(i32, 0) === 0) {
 *     if (!(yield { i32, index: 0, expected: 0, deadline })) return false;
 *   }
 *   return true;
 * }
 * console.log(runSync(nonZero(performance.now() + 5))); // false
 * ```
 */
export type WaitLoop<T> = Generator<Sleep, T, boolean>;

/** Runs a wait loop on the calling thread, blocking in `Atomics.wait`. */
export function runSync<T>(loop: WaitLoop<T>): T {
  let r = loop.next(true);
  while (!r.done) {
    const s = r.value;
    const slept = (s.spin === true && spinWhile(s.i32, s.index, s.expected)) ||
      waitSlice(s.i32, s.index, s.expected, s.deadline);
    sliceHook?.();
    r = loop.next(slept);
  }
  return r.value;
}

let sliceHook: (() => void) | undefined;

/**
 * Sets the function run after every wait slice of this thread (the thread
 * registry's stop check: a thread asked to stop halts while it waits).
 */
export function onWaitSlice(hook: () => void): void {
  sliceHook = hook;
}

/**
 * Runs a wait loop without blocking the event loop (`Atomics.waitAsync`).
 * When `signal` aborts, the loop is ended (its `finally` runs) and the
 * result is `onAbort()`, which may throw the domain's error.
 */
export async function runAsync<T>(loop: WaitLoop<T>, signal: AbortSignal | undefined, onAbort: () => T): Promise<T> {
  let r: IteratorResult<Sleep, T>;
  try {
    if (signal?.aborted) {
      loop.return(undefined as T);
      return onAbort();
    }
    r = loop.next(true);
    while (!r.done) {
      const s = r.value;
      const slept = (s.spin === true && spinWhile(s.i32, s.index, s.expected)) ||
        await waitSliceAsync(s.i32, s.index, s.expected, s.deadline, signal);
      sliceHook?.();
      if (signal?.aborted) {
        loop.return(undefined as T);
        return onAbort();
      }
      r = loop.next(slept);
    }
  } catch (e) {
    loop.return(undefined as T);
    throw e;
  }
  return r.value;
}

/** Spins briefly while `i32[index] === expected`; true when it changed. */
export function spinWhile(i32: Int32Array, index: number, expected: number): boolean {
  for (let i = 0; i < SPINS; i++) {
    if (Atomics.load(i32, index) !== expected) return true;
  }
  return false;
}

/** Blocks at most `ms` while `i32[index] === expected`, with no deadline or signal (short naps in spin loops). */
export function nap(i32: Int32Array, index: number, expected: number, ms: number): void {
  const f = foreignOf(i32);
  if (f !== undefined) f.wait(i32, index, expected, ms);
  else Atomics.wait(i32, index, expected, ms);
}

/** Wakes up to `count` waiters on `i32[index]`. */
export function wake(i32: Int32Array, index: number, count = 1): void {
  const f = foreignOf(i32);
  if (f !== undefined) f.notify(i32, index, count);
  else Atomics.notify(i32, index, count);
}

/** Throws the typed abort error when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string, make = lockAborted): void {
  if (signal?.aborted) throw make(what, signal.reason);
}

function lockAborted(what: string, reason: unknown): Error {
  return new LockError("Aborted", `Cannot ${what} as the signal was aborted`, { cause: reason });
}
