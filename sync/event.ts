/**
 * A flag threads, processes or machines wait on: Python's
 * `multiprocessing.Event`.
 *
 * ## Layout
 *
 * One Int32 word, `E_STATE`: bit 0 is the flag, the bits above count the
 * times it went from clear to set. Waiters sleep on the word; a waiter that
 * wakes to a changed count returns true even if the flag was cleared again
 * meanwhile, so a `set()` quickly followed by `clear()` still wakes everyone
 * who was waiting, as in Python.
 * @module
 */
import { type Backend, type CallContext, type Handle, timeoutArg } from "../core/backend.ts";
import { defineStructure, Shared } from "../core/structure.ts";
import { abortedError } from "../errors.ts";
import { type Deadline, deadlineOf, runAsync, runSync, type WaitLoop, type WaitOptions, wake } from "./_kernel.ts";

/** The state word: flag in bit 0, set-count above it. */
const E_STATE = 0;
/** The flag bit of `E_STATE`. */
const E_FLAG = 1;
/** Bytes of an Event's buffer (one cache line). */
const E_BYTES = 64;

/** The shared-buffer handle of an Event. */
export interface EventHandle extends Handle {
  readonly kind: "event";
}

/**
 * The event engine: one state word in a SharedArrayBuffer.
 *
 * @internal
 */
export class EventEngine {
  readonly i32: Int32Array;
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(E_BYTES)) {
    this.i32 = new Int32Array(buffer);
  }

  /** A fresh, clear event. */
  static create(): EventEngine {
    return new EventEngine();
  }

  /** Sets the flag and wakes every waiter. */
  set(): void {
    for (;;) {
      const s = Atomics.load(this.i32, E_STATE);
      if (s & E_FLAG) return;
      // the set-count wraps; only "changed" matters
      if (Atomics.compareExchange(this.i32, E_STATE, s, ((s + 2) | E_FLAG) | 0) === s) break;
    }
    wake(this.i32, E_STATE, Infinity);
  }

  /** Clears the flag. */
  clear(): void {
    Atomics.and(this.i32, E_STATE, ~E_FLAG);
  }

  /** True when the flag is set. */
  isSet(): boolean {
    return (Atomics.load(this.i32, E_STATE) & E_FLAG) !== 0;
  }

  /** True once the flag is (or was, while waiting) set; false when the deadline passes. */
  waitSync(options?: WaitOptions): boolean {
    const deadline = deadlineOf(options?.timeout, "wait on event");
    if (options?.signal?.aborted) throw abortedError("LockError", "wait on event", options.signal);
    const s = Atomics.load(this.i32, E_STATE);
    return (s & E_FLAG) !== 0 || runSync(this.#waitLoop(s, deadline));
  }

  /** The asynchronous twin of {@linkcode waitSync}; an aborted signal fails with `LockError("Aborted")`. */
  wait(options?: WaitOptions): Promise<boolean> {
    const deadline = deadlineOf(options?.timeout, "wait on event");
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortedError("LockError", "wait on event", signal));
    const s = Atomics.load(this.i32, E_STATE);
    if (s & E_FLAG) return Promise.resolve(true);
    return runAsync(this.#waitLoop(s, deadline), signal, () => {
      throw abortedError("LockError", "wait on event", signal);
    });
  }

  /** The slow path of a wait that began at state `s`, for either driver. */
  *#waitLoop(s: number, deadline: Deadline): WaitLoop<boolean> {
    while (Atomics.load(this.i32, E_STATE) === s) {
      if (!(yield { i32: this.i32, index: E_STATE, expected: s, deadline, spin: true })) break;
    }
    return this.#after(s);
  }

  /** Outcome of a wait that began at state `s`: set now, or set at least once since. */
  #after(s: number): boolean {
    const now = Atomics.load(this.i32, E_STATE);
    return (now & E_FLAG) !== 0 || (now & ~E_FLAG) !== (s & ~E_FLAG);
  }
}

/** The operations of an Event, local and remote. */
const /** @internal */ eventOps = {
  set: (e: EventEngine): void => e.set(),
  clear: (e: EventEngine): void => e.clear(),
  isSet: (e: EventEngine): boolean => e.isSet(),
  wait: (e: EventEngine, [timeout]: [number | undefined], ctx: CallContext): Promise<boolean> =>
    e.wait({ timeout: timeoutArg(timeout), signal: ctx.signal }),
};

/**
 * An event: Python's `multiprocessing.Event`, on any transport. `set()`
 * raises the flag and wakes every waiter; `clear()` lowers it; `wait()`
 * resolves with `true` once the flag is set, or with `false` when the
 * timeout elapses first (Python's return value, not an error).
 *
 * **Fairness**: not applicable: `set()` wakes every waiter at once.
 *
 * **Cancellation**: a `wait` whose signal aborts fails with
 * `LockError("Aborted")`; nothing else changes.
 *
 * **Visibility**: `set`, `clear` and `wait` are sequentially consistent
 * atomics; everything written before `set()` is visible to a waiter it wakes.
 * A `set()` immediately followed by `clear()` still wakes (with `true`)
 * everyone already waiting.
 *
 * **Transports**: shared buffer (sync and async, spin then `Atomics.wait`),
 * socket (async). An event has no owner: nothing happens when a
 * thread that set it dies.
 *
 * @example Starting workers together
 * ```ts
 * import { Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const go = await m.event();
 * const waiting = go.wait({ timeout: 1000 });
 * await go.set();
 * console.log(await waiting, await go.isSet()); // true true
 * ```
 */
export class Event extends Shared<EventEngine, typeof eventOps> {
  /** @internal Use `Manager.event()` or `attach(handle)`. */
  constructor(handle: Handle, backend: Backend<EventEngine>) {
    super(handle, backend, eventOps);
  }

  /** Sets the flag and wakes every waiter. */
  async set(): Promise<void> {
    return this.exec("set", []);
  }

  /** The synchronous twin of {@linkcode set} (shared buffer only). */
  setSync(): void {
    this.local("setSync").set();
  }

  /** Clears the flag. */
  async clear(): Promise<void> {
    return this.exec("clear", []);
  }

  /** The synchronous twin of {@linkcode clear} (shared buffer only). */
  clearSync(): void {
    this.local("clearSync").clear();
  }

  /** True when the flag is set. */
  async isSet(): Promise<boolean> {
    return this.call("isSet", []);
  }

  /** The synchronous twin of {@linkcode isSet} (shared buffer only). */
  isSetSync(): boolean {
    return this.local("isSetSync").isSet();
  }

  /**
   * Waits until the flag is set: `true`, or `false` when `timeout` ms pass
   * first. An aborted signal fails with `LockError("Aborted")`.
   */
  async wait(options?: WaitOptions): Promise<boolean> {
    deadlineOf(options?.timeout, "wait on event");
    return this.blocking("wait", [options?.timeout], "LockError", "wait on event", options?.signal);
  }

  /** The synchronous twin of {@linkcode wait} (shared buffer only). */
  waitSync(options?: WaitOptions): boolean {
    return this.local("waitSync").waitSync(options);
  }
}

/** The Event kind. */
export const eventSpec = defineStructure({
  kind: "event",
  create: () => EventEngine.create(),
  share: (e: EventEngine) => ({ buffer: e.buffer }),
  open: (h) => new EventEngine(h.buffer as SharedArrayBuffer),
  ops: eventOps,
  client: (handle, backend: Backend<EventEngine>) => new Event(handle, backend),
});
