/**
 * Counting semaphores shared by threads, processes or machines: Python's
 * `multiprocessing.Semaphore` and `BoundedSemaphore`, with permits that
 * return to the semaphore when their holder dies.
 *
 * ## Layout
 *
 * One SharedArrayBuffer of Int32 words:
 *
 * | word | name | meaning |
 * |---|---|---|
 * | 0 | `S_VALUE` | permits available; the futex word waiters sleep on |
 * | 1 | `S_GUARD` | the guard word of the robust guarded section (`_guard.ts`) over every other word |
 * | 2 | `S_SLEEPERS` | waiters asleep on `S_VALUE` (a releaser skips the notify when 0) |
 * | 3 | `S_INITIAL` | the initial value (the bound of a BoundedSemaphore) |
 * | 4 | `S_BOUNDED` | 1 for a BoundedSemaphore |
 * | 5 | `S_DIED` | permits reclaimed from dead holders, not yet handed out |
 * | 6 | `S_HOLDERS` | slots in the holder table |
 * | 7–15 | `S_JOURNAL` | the guarded section's undo journal (`_guard.ts`), 4 entries |
 * | 16… | holder table | `S_HOLDERS` slots of `[owner id, permits held]` |
 *
 * ## Holders and dead owners
 *
 * An acquire records its owner id (thread, or connection) in the holder
 * table; a release by a holder takes the permit back from its slot. A waiter
 * that finds no permit scans the table (then once per 200 ms wait slice) for
 * owners the thread registry marks dead and puts their permits back; the
 * next acquisitions of those permits report `ownerDied`. Every change to the
 * guarded words is journaled first (`_guard.ts`), so that a thread terminated
 * inside the guarded section is undone by whoever takes the guard over.
 * @module
 */
import { type Backend, type CallContext, type Handle, timeoutArg } from "../core/backend.ts";
import { defineStructure } from "../core/structure.ts";
import { CapacityError, LockError } from "../errors.ts";
import { isDead, threadId } from "../transports/_runtime/threads.ts";
import {
  type Deadline,
  deadlineOf,
  runAsync,
  runSync,
  spinWhile,
  type WaitLoop,
  type WaitOptions,
  wake,
} from "./_kernel.ts";
import { Guard, journalWords } from "./_guard.ts";
import { ABORTED, ACQUIRED, ACQUIRED_OWNER_DIED, type LockOutcome, TIMED_OUT } from "./_mutex.ts";
import { acquireDeadline, acquiredOrThrow, LockLike } from "./_lock_like.ts";
import { HeldPermit, type LockPermit } from "./_permit.ts";

/** Permits available; the futex word. */
const S_VALUE = 0;
/** The guard word of the guarded section over the other words. */
const S_GUARD = 1;
/** Waiters asleep on `S_VALUE`. */
const S_SLEEPERS = 2;
/** The initial value. */
const S_INITIAL = 3;
/** 1 for a BoundedSemaphore. */
const S_BOUNDED = 4;
/** Permits reclaimed from dead holders and not yet handed out. */
const S_DIED = 5;
/** Slots in the holder table. */
const S_HOLDERS = 6;
/** First word of the guarded section's undo journal. */
const S_JOURNAL = 7;
/** Words one change journals at most: `S_VALUE`, `S_DIED`, and one slot's owner and count. */
const JOURNAL_ENTRIES = 4;
/** First word of the holder table (after the journal). */
const H_BASE = S_JOURNAL + journalWords(JOURNAL_ENTRIES);
/** Offset of a slot's owner id. */
const H_OWNER = 0;
/** Offset of a slot's permit count. */
const H_COUNT = 1;
/** Words per holder slot. */
const H_WORDS = 2;

/** Holder slots when `maxHolders` is not given. */
export const DEFAULT_MAX_HOLDERS = 64;
/** Most holder slots a semaphore may have. */
const MAX_HOLDERS = 1 << 16;
/** Largest value a semaphore counts to. */
const MAX_VALUE = 0x7fffffff;
/** `#take` found no permit. */
const NONE = -1;

/** Options of `Manager.semaphore` and `Manager.boundedSemaphore`. */
export interface SemaphoreOptions {
  /**
   * Distinct holders (threads, or connections) that may hold permits at the
   * same time (default {@linkcode DEFAULT_MAX_HOLDERS}); an acquire by one
   * more fails with `CapacityError`. Each slot costs 8 bytes.
   */
  readonly maxHolders?: number;
}

/** The shared-buffer handle of a Semaphore or BoundedSemaphore. */
export interface SemaphoreHandle extends Handle {
  readonly kind: "semaphore" | "boundedSemaphore";
}

function checkValue(value: unknown, what: string): number {
  if (value === undefined || value === null) return 1;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_VALUE) {
    throw new TypeError(`Cannot create ${what} as 'value' must be a non-negative integer: received ${value}`);
  }
  return value;
}

function checkHolders(n: unknown, what: string): number {
  if (n === undefined || n === null) return DEFAULT_MAX_HOLDERS;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_HOLDERS) {
    throw new TypeError(
      `Cannot create ${what} as 'maxHolders' must be an integer from 1 to ${MAX_HOLDERS}: received ${n}`,
    );
  }
  return n;
}

/**
 * The semaphore engine. Every method takes the caller's owner id (a thread
 * id, or over a socket the connection's id).
 *
 * @internal
 */
export class SemaphoreEngine {
  readonly i32: Int32Array;
  /** Slots in the holder table. */
  readonly holders: number;
  readonly bounded: boolean;
  readonly #guard: Guard;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.i32 = new Int32Array(buffer);
    this.holders = Atomics.load(this.i32, S_HOLDERS);
    this.bounded = Atomics.load(this.i32, S_BOUNDED) === 1;
    this.#guard = new Guard(this.i32, { word: S_GUARD, journal: S_JOURNAL, entries: JOURNAL_ENTRIES });
  }

  /** A fresh semaphore holding `value` permits. */
  static create(value: number, bounded: boolean, maxHolders = DEFAULT_MAX_HOLDERS): SemaphoreEngine {
    const what = bounded ? "bounded semaphore" : "semaphore";
    value = checkValue(value, what);
    maxHolders = checkHolders(maxHolders, what);
    const buffer = new SharedArrayBuffer((H_BASE + maxHolders * H_WORDS) * 4);
    const i32 = new Int32Array(buffer);
    i32[S_VALUE] = value;
    i32[S_INITIAL] = value;
    i32[S_BOUNDED] = bounded ? 1 : 0;
    i32[S_HOLDERS] = maxHolders;
    return new SemaphoreEngine(buffer);
  }

  get #what(): string {
    return this.bounded ? "bounded semaphore" : "semaphore";
  }

  // -- inside the guarded section --------------------------------------------

  /** Journals the words a change may touch: the counters, and holder slot `slot` unless it is -1. */
  #begin(slot: number): void {
    if (slot < 0) return this.#guard.begin(S_VALUE, S_DIED);
    const at = H_BASE + slot * H_WORDS;
    this.#guard.begin(S_VALUE, S_DIED, at + H_OWNER, at + H_COUNT);
  }

  /** The slot of `id`, else (with `alloc`) a free one, else -1. Under the guard. */
  #find(id: number, alloc: boolean): number {
    const n = this.holders;
    let free = -1;
    for (let k = 0, s = id % n; k < n; k++, s = s + 1 === n ? 0 : s + 1) {
      const owner = Atomics.load(this.i32, H_BASE + s * H_WORDS + H_OWNER);
      if (owner === id) return s;
      if (owner === 0 && free < 0) free = s;
    }
    return alloc ? free : -1;
  }

  /** Puts back the permits of dead holders. Under the guard. */
  #reclaim(): void {
    const i = this.i32;
    for (let s = 0; s < this.holders; s++) {
      const at = H_BASE + s * H_WORDS;
      const owner = Atomics.load(i, at + H_OWNER);
      if (owner === 0 || !isDead(owner)) continue;
      const count = Atomics.load(i, at + H_COUNT);
      this.#begin(s);
      const cap = this.bounded ? Atomics.load(i, S_INITIAL) : MAX_VALUE;
      const value = Math.min(cap, Atomics.load(i, S_VALUE) + count);
      Atomics.store(i, S_VALUE, value);
      Atomics.store(i, S_DIED, Math.min(value, Atomics.load(i, S_DIED) + count));
      Atomics.store(i, at + H_COUNT, 0);
      Atomics.store(i, at + H_OWNER, 0);
      this.#guard.commit();
    }
  }

  /** Takes one permit for `id`: NONE, or 1 when it was a dead holder's, else 0. Under the guard. */
  #take(id: number): number {
    const i = this.i32;
    let value = Atomics.load(i, S_VALUE);
    if (value === 0) {
      this.#reclaim();
      value = Atomics.load(i, S_VALUE);
      if (value === 0) return NONE;
    }
    let s = this.#find(id, true);
    if (s < 0) {
      this.#reclaim();
      s = this.#find(id, true);
      if (s < 0) {
        throw new CapacityError(
          "Full",
          `Cannot acquire ${this.#what} as every holder slot is taken by another holder: received maxHolders ${this.holders}`,
        );
      }
      value = Atomics.load(i, S_VALUE);
    }
    const at = H_BASE + s * H_WORDS;
    this.#begin(s);
    Atomics.store(i, S_VALUE, value - 1);
    Atomics.store(i, at + H_OWNER, id);
    Atomics.store(i, at + H_COUNT, Atomics.load(i, at + H_COUNT) + 1);
    const died = Atomics.load(i, S_DIED);
    if (died > 0) Atomics.store(i, S_DIED, died - 1);
    this.#guard.commit();
    return died > 0 ? 1 : 0;
  }

  // -- waiting ---------------------------------------------------------------

  /** One attempt at a permit, in the guarded section: NONE, or 1 when it was a dead holder's, else 0. */
  #attempt(id: number): number {
    this.#guard.enter();
    try {
      return this.#take(id);
    } finally {
      this.#guard.leave();
    }
  }

  /**
   * The slow path of an acquisition, for either driver: sleeps on `S_VALUE`
   * while no permit is free, then attempts again. A sleeper that is abandoned
   * (its signal aborted) hands a wake-up it may have swallowed to the next.
   */
  *#acquireLoop(id: number, deadline: Deadline): WaitLoop<LockOutcome> {
    const i = this.i32;
    for (;;) {
      if (!spinWhile(i, S_VALUE, 0)) {
        Atomics.add(i, S_SLEEPERS, 1);
        let slept: boolean | undefined;
        try {
          slept = yield { i32: i, index: S_VALUE, expected: 0, deadline };
        } finally {
          Atomics.sub(i, S_SLEEPERS, 1);
          if (slept === undefined) this.#passOn();
        }
        if (!slept) return TIMED_OUT;
      }
      const r = this.#attempt(id);
      if (r !== NONE) return r === 1 ? ACQUIRED_OWNER_DIED : ACQUIRED;
    }
  }

  /** A waiter gave up; hand a wake-up it may have swallowed to the next one. */
  #passOn(): void {
    if (Atomics.load(this.i32, S_VALUE) > 0 && Atomics.load(this.i32, S_SLEEPERS) > 0) wake(this.i32, S_VALUE, 1);
  }

  // -- operations ------------------------------------------------------------

  /** Blocks the thread until `id` holds a permit; true when it was a dead holder's. */
  acquireSync(id: number, options?: WaitOptions): boolean {
    const what = `acquire ${this.#what}`;
    const deadline = acquireDeadline(what, options);
    const r = this.#attempt(id);
    if (r !== NONE) return r === 1;
    return acquiredOrThrow(runSync(this.#acquireLoop(id, deadline)), what, options);
  }

  /** The asynchronous twin of {@linkcode acquireSync}; never blocks the event loop. */
  async acquire(id: number, options?: WaitOptions): Promise<boolean> {
    const what = `acquire ${this.#what}`;
    const deadline = acquireDeadline(what, options);
    const r = this.#attempt(id);
    if (r !== NONE) return r === 1;
    const outcome = await runAsync<LockOutcome>(this.#acquireLoop(id, deadline), options?.signal, () => ABORTED);
    return acquiredOrThrow(outcome, what, options);
  }

  /** Takes a permit without waiting: `undefined` when none is free, else whether it was a dead holder's. */
  tryAcquire(id: number): boolean | undefined {
    const r = this.#attempt(id);
    return r === NONE ? undefined : r === 1;
  }

  /**
   * Adds a permit. From a holder, the permit leaves its slot; from anyone
   * else it is a new permit (Python's signalling use). A BoundedSemaphore at
   * its initial value refuses with `LockError("NotOwner")`.
   */
  release(id: number): void {
    const i = this.i32;
    this.#guard.enter();
    try {
      const value = Atomics.load(i, S_VALUE);
      const initial = Atomics.load(i, S_INITIAL);
      if (this.bounded && value >= initial) {
        throw new LockError(
          "NotOwner",
          `Cannot release bounded semaphore as it would exceed its initial value: received ${initial}`,
        );
      }
      if (value >= MAX_VALUE) {
        throw new RangeError(`Cannot release semaphore as its value is at the limit: received ${value}`);
      }
      const s = this.#find(id, false);
      this.#begin(s);
      Atomics.store(i, S_VALUE, value + 1);
      if (s >= 0) {
        const at = H_BASE + s * H_WORDS;
        const count = Atomics.load(i, at + H_COUNT) - 1;
        Atomics.store(i, at + H_COUNT, count);
        if (count <= 0) Atomics.store(i, at + H_OWNER, 0);
      }
      this.#guard.commit();
    } finally {
      this.#guard.leave();
    }
    if (Atomics.load(i, S_SLEEPERS) > 0) wake(i, S_VALUE, 1);
  }

  /**
   * Keeps a permit for good: it leaves the holder's slot without returning to
   * the semaphore (nor on the holder's death). `LockError("NotOwner")` when
   * `id` holds none.
   */
  forget(id: number): void {
    const i = this.i32;
    this.#guard.enter();
    try {
      const s = this.#find(id, false);
      if (s < 0) {
        throw new LockError("NotOwner", `Cannot forget a ${this.#what} permit as none is held: received ${id}`);
      }
      const at = H_BASE + s * H_WORDS;
      this.#begin(s);
      const count = Atomics.load(i, at + H_COUNT) - 1;
      Atomics.store(i, at + H_COUNT, count);
      if (count <= 0) Atomics.store(i, at + H_OWNER, 0);
      this.#guard.commit();
    } finally {
      this.#guard.leave();
    }
  }

  /** Permits available now (those of dead holders count once reclaimed). */
  value(): number {
    return Atomics.load(this.i32, S_VALUE);
  }
}

/** The operations of a Semaphore and a BoundedSemaphore, local and remote; the owner is the caller's `ctx.ownerId`. */
const /** @internal */ semaphoreOps = {
  acquire: (e: SemaphoreEngine, [timeout]: [number | undefined], ctx: CallContext): Promise<boolean> =>
    e.acquire(ctx.ownerId, { timeout: timeoutArg(timeout), signal: ctx.signal }),
  tryAcquire: (e: SemaphoreEngine, _: [], ctx: CallContext): boolean | null => e.tryAcquire(ctx.ownerId) ?? null,
  release: (e: SemaphoreEngine, _: [], ctx: CallContext): void => e.release(ctx.ownerId),
  forget: (e: SemaphoreEngine, _: [], ctx: CallContext): void => e.forget(ctx.ownerId),
  value: (e: SemaphoreEngine): number => e.value(),
};

/** A semaphore's engine from the manager factory's parameters: `[value, { maxHolders }]`. */
function createEngine(params: readonly unknown[], bounded: boolean): SemaphoreEngine {
  const options = (params[1] ?? {}) as SemaphoreOptions;
  return SemaphoreEngine.create(params[0] as number, bounded, options.maxHolders);
}

/**
 * Proof of holding one semaphore permit. Release it once, by `release()` or
 * by leaving a `using` / `await using` block; or keep it for good with
 * `forget()`.
 */
export interface SemaphorePermit extends LockPermit {
  /** True when this permit was held by a thread or process that died holding it. */
  readonly ownerDied: boolean;
  /**
   * Keeps the permit for good (tokio's `forget`): it does not return to the
   * semaphore, now or when this thread ends. Use it when acquiring consumes a
   * permit another thread's `release()` produced.
   */
  forget(): Promise<void>;
}

class Permit extends HeldPermit implements SemaphorePermit {
  constructor(ownerDied: boolean, readonly semaphore: Semaphore) {
    super(ownerDied, semaphore);
  }
  forget(): Promise<void> {
    return this.spend() ? this.semaphore.forgetOne() : Promise.resolve();
  }
}

/**
 * A counting semaphore: Python's `multiprocessing.Semaphore(value)`, on any
 * transport.
 *
 * `acquire` takes one permit, waiting while none is free, and returns a
 * {@linkcode SemaphorePermit} for `using`; `release` (inherited from
 * {@linkcode LockLike}) adds one. Unlike a lock,
 * anyone may release: from a holder the permit goes back, from anyone else
 * it is a new permit (as in Python). `value()` tells how many are free.
 *
 * Permits are recorded per holder (thread, or connection) in a table of
 * `maxHolders` slots (default 64): when a holder dies, its permits return to
 * the semaphore, and the acquirers that get them see `ownerDied === true`.
 * A thread that ends normally while still holding permits gives them back
 * the same way; when acquiring consumes a permit for good (a permit another
 * thread's `release()` produced, as a signal), call `permit.forget()`.
 * More than `maxHolders` distinct holders at once fail with `CapacityError`.
 *
 * **Fairness**: none; a release wakes one sleeper, and a thread spinning at
 * that moment may take the permit first.
 *
 * **Cancellation**: an `acquire` whose timeout elapses or whose signal aborts
 * fails with `LockError("Timeout" | "Aborted")` and holds nothing; a wake-up
 * it may have received goes on to the next sleeper.
 *
 * **Visibility**: every change happens under a robust internal mutex with
 * sequentially consistent atomics; writes made before a `release` are visible
 * to the acquirer that takes that permit.
 *
 * **Transports**: shared buffer (sync and async, spin then `Atomics.wait`)
 * and socket (async; permits held by the connection, returned when it
 * drops). A dead holder is detected by the first acquirer that finds no
 * permit, then every 200 ms wait slice.
 *
 * @example Limiting concurrency to two
 * ```ts
 * import { Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const slots = await m.semaphore(2);
 * await slots.withPermit(async () => {
 *   console.log(await slots.value()); // 1
 * }, { timeout: 1000 });
 * {
 *   using _permit = await slots.acquire();
 * }
 * ```
 */
export class Semaphore extends LockLike<SemaphoreEngine, typeof semaphoreOps> {
  /** @internal Use `Manager.semaphore()` or `attach(handle)`. */
  constructor(handle: Handle, backend: Backend<SemaphoreEngine>) {
    super(handle, backend, semaphoreOps);
  }

  get #what(): string {
    return this.handle.kind === "boundedSemaphore" ? "bounded semaphore" : "semaphore";
  }

  /** Takes a permit, waiting at most `timeout` ms; fails with `LockError`. */
  async acquire(options?: WaitOptions): Promise<SemaphorePermit> {
    const what = `acquire ${this.#what}`;
    deadlineOf(options?.timeout, what);
    return new Permit(await this.blocking("acquire", [options?.timeout], "LockError", what, options?.signal), this);
  }

  /** Blocks the thread until a permit is taken (shared buffer only). */
  acquireSync(options?: WaitOptions): SemaphorePermit {
    return new Permit(this.local("acquireSync").acquireSync(threadId(), options), this);
  }

  /** Takes a permit if one is free, without waiting. */
  async tryAcquire(): Promise<SemaphorePermit | undefined> {
    const r = await this.call("tryAcquire", []);
    return r === undefined || r === null ? undefined : new Permit(r, this);
  }

  /** The synchronous twin of {@linkcode tryAcquire} (shared buffer only). */
  tryAcquireSync(): SemaphorePermit | undefined {
    const r = this.local("tryAcquireSync").tryAcquire(threadId());
    return r === undefined ? undefined : new Permit(r, this);
  }

  /** @internal Keeps one permit of this thread for good (`permit.forget()`). */
  async forgetOne(): Promise<void> {
    return this.exec("forget", []);
  }

  /** Permits free now (Python's `get_value()`). */
  async value(): Promise<number> {
    return this.call("value", []);
  }

  /** The synchronous twin of {@linkcode value} (shared buffer only). */
  valueSync(): number {
    return this.local("valueSync").value();
  }

  /** Runs `fn` holding a permit and releases it however `fn` ends. */
  async withPermit<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    return await this.holding(fn, options);
  }

  /** The synchronous twin of {@linkcode withPermit} (shared buffer only). */
  withPermitSync<T>(fn: () => T, options?: WaitOptions): T {
    return this.holdingSync("withPermitSync", fn, options);
  }
}

/**
 * A semaphore that refuses to go above its initial value: Python's
 * `multiprocessing.BoundedSemaphore(value)`.
 *
 * A `release` that would make `value()` exceed the initial value fails with
 * `LockError("NotOwner")` — Python raises `ValueError` there; procshare uses
 * the lock domain's error, as `Lock.release` of an unheld lock does — and
 * changes nothing. Everything else is {@linkcode Semaphore}'s.
 *
 * **Fairness**: none, as {@linkcode Semaphore}.
 *
 * **Cancellation**: as {@linkcode Semaphore}.
 *
 * **Visibility**: as {@linkcode Semaphore}.
 *
 * **Transports**: as {@linkcode Semaphore} (shared buffer and socket);
 * permits reclaimed from dead holders never lift the value above the bound.
 *
 * @example Catching a release too many
 * ```ts
 * import { LockError, Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const pool = await m.boundedSemaphore(1);
 * try {
 *   await pool.release();
 * } catch (e) {
 *   if (e instanceof LockError && e.reason === "NotOwner") console.log("released too many times");
 * }
 * ```
 */
export class BoundedSemaphore extends Semaphore {}

/** The Semaphore kind. */
export const semaphoreSpec = defineStructure({
  kind: "semaphore",
  create: (params) => createEngine(params, false),
  share: (e: SemaphoreEngine) => ({ buffer: e.buffer }),
  open: (h) => new SemaphoreEngine(h.buffer as SharedArrayBuffer),
  ops: semaphoreOps,
  client: (handle, backend: Backend<SemaphoreEngine>) => new Semaphore(handle, backend),
});

/** The BoundedSemaphore kind: a Semaphore's engine and ops, with the bound set. */
export const boundedSemaphoreSpec = defineStructure({
  kind: "boundedSemaphore",
  create: (params) => createEngine(params, true),
  share: (e: SemaphoreEngine) => ({ buffer: e.buffer }),
  open: (h) => new SemaphoreEngine(h.buffer as SharedArrayBuffer),
  ops: semaphoreOps,
  client: (handle, backend: Backend<SemaphoreEngine>) => new BoundedSemaphore(handle, backend),
});
