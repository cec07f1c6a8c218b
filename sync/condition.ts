/**
 * A condition variable shared by threads, processes or machines: Python's
 * `multiprocessing.Condition`.
 *
 * ## Layout
 *
 * A Condition is its lock (a Lock or RLock, whose engine the condition
 * opens from the lock's own buffer) plus a waiter table in one
 * SharedArrayBuffer of Int32 words:
 *
 * | word | name | meaning |
 * |---|---|---|
 * | 0 | `C_TICKET` | order counter: each waiter takes the next ticket |
 * | 1 | `C_SLOTS` | slots in the waiter table |
 * | 2 | `C_HINT` | where the next search for a free slot starts |
 * | 16… | waiter table | `C_SLOTS` slots of `[state, ticket]` |
 *
 * A slot's state is 0 (free), the waiter's owner id (waiting), or the owner
 * id with {@linkcode SIGNALLED} set (notified). A waiter takes a slot *before*
 * it releases the lock and sleeps on its own slot's word, so a notify that
 * comes between the release and the sleep is never lost, and `notify(n)`
 * wakes exactly the `n` oldest waiters. A notifier frees, without counting
 * them, the slots of waiters the thread registry marks dead.
 *
 * The condition serves its lock's operations itself (as a Value serves its
 * Lock's), so a remote Condition's Lock or RLock calls go to the condition.
 * @module
 */
import { type Backend, type CallContext, type Handle, isHandle, timeoutArg } from "../core/backend.ts";
import { defineStructure, Shared, type SharedFields } from "../core/structure.ts";
import { abortedError, CapacityError, LockError } from "../errors.ts";
import { isDead, threadId } from "../transports/_runtime/threads.ts";
import { type Deadline, deadlineOf, runAsync, runSync, type WaitLoop, type WaitOptions, wake } from "./_kernel.ts";
import { OWNER_MASK } from "./_mutex.ts";
import type { LockPermit } from "./_permit.ts";
import { type Lock, LockEngine, lockSpec } from "./lock.ts";
import { type RLock, RLockEngine, rlockSpec } from "./rlock.ts";

/** Ticket counter. */
const C_TICKET = 0;
/** Slots in the waiter table. */
const C_SLOTS = 1;
/** Start of the next free-slot search. */
const C_HINT = 2;
/** First word of the waiter table. */
const W_BASE = 16;
/** Offset of a slot's state word (the word its waiter sleeps on). */
const W_STATE = 0;
/** Offset of a slot's ticket. */
const W_TICKET = 1;
/** Words per waiter slot. */
const W_WORDS = 2;
/** Set in a slot's state once its waiter is notified. */
export const SIGNALLED = 0x40000000;
/** Set in a slot's state when a waiter's abort asks its sleep to end. */
export const CANCELLED = 0x80000000 | 0;

/** A wait ended by its timeout. */
const TIMED_OUT_WAIT = 0;
/** A wait ended by a notify. */
const NOTIFIED = 1;
/** A wait ended by `interrupt` (its caller aborted). */
const CANCELLED_WAIT = 2;
/** Why a wait ended. */
type WaitOutcome = typeof TIMED_OUT_WAIT | typeof NOTIFIED | typeof CANCELLED_WAIT;

/** Waiter slots when `maxWaiters` is not given. */
export const DEFAULT_MAX_WAITERS = 64;
/** Most waiter slots a condition may have. */
const MAX_WAITERS = 1 << 16;

/** What the waits of a condition are called in errors. */
const WAIT = "wait on condition";

/** Options of `Manager.condition`. */
export interface ConditionOptions {
  /**
   * Threads (or connections) that may wait at the same time (default
   * {@linkcode DEFAULT_MAX_WAITERS}); one more fails with `CapacityError`.
   * Each slot costs 8 bytes.
   */
  readonly maxWaiters?: number;
}

/** The shared-buffer handle of a Condition: its waiter table and its lock's buffer. */
export interface ConditionHandle extends Handle {
  readonly kind: "condition";
}

/** The engine of a condition's lock. */
type LockEngineOf = LockEngine | RLockEngine;

/** The kind of a lock engine. */
function kindOf(lock: LockEngineOf): "lock" | "rlock" {
  return lock instanceof RLockEngine ? "rlock" : "lock";
}

/**
 * Opens the engine of a Lock or RLock from its shared-buffer fields (its
 * handle, or the `lock` of a condition's handle); `undefined` when `h` is a
 * Lock or RLock that is not in this memory (a remote handle).
 */
function openLock(h: unknown, what: string): LockEngineOf | undefined {
  if (!isHandle(h) || (h.kind !== "lock" && h.kind !== "rlock")) {
    throw new TypeError(`Cannot ${what} as 'lock' must be a Lock or RLock: received ${describe(h)}`);
  }
  if (!(h.buffer instanceof SharedArrayBuffer || h.buffer instanceof ArrayBuffer)) return undefined; // ArrayBuffer: an shm: region
  return h.kind === "rlock" ? rlockSpec.open(h) : lockSpec.open(h);
}

/** The shared-buffer fields of a condition's lock, as a handle without the thread registry. */
function lockFields(lock: LockEngineOf): Handle {
  const fields = lock instanceof RLockEngine ? rlockSpec.share(lock) : lockSpec.share(lock);
  return { ...fields, kind: kindOf(lock), via: "shared-buffer" };
}

/**
 * The condition engine: the waiter table, and the engine of its lock (the
 * RLock it was created with, or the Lock or RLock it was given).
 *
 * @internal
 */
export class ConditionEngine {
  readonly i32: Int32Array;
  readonly slots: number;

  constructor(readonly buffer: SharedArrayBuffer, readonly lock: LockEngineOf) {
    this.i32 = new Int32Array(buffer);
    this.slots = Atomics.load(this.i32, C_SLOTS);
  }

  /**
   * A fresh condition over `lock` (the handle of a Lock or RLock whose
   * memory this thread holds), else over a new RLock.
   */
  static create(lock?: unknown, options?: ConditionOptions): ConditionEngine {
    const given = lock === undefined || lock === null ? undefined : openLock(lock, "create condition");
    if (lock !== undefined && lock !== null && given === undefined) {
      const h = lock as Handle;
      throw new TypeError(
        `Cannot create condition as its lock is not in this manager's memory: received a ${h.kind} via '${h.via}'`,
      );
    }
    const n = options?.maxWaiters ?? DEFAULT_MAX_WAITERS;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_WAITERS) {
      throw new TypeError(
        `Cannot create condition as 'maxWaiters' must be an integer from 1 to ${MAX_WAITERS}: received ${n}`,
      );
    }
    const buffer = new SharedArrayBuffer((W_BASE + n * W_WORDS) * 4);
    new Int32Array(buffer)[C_SLOTS] = n;
    return new ConditionEngine(buffer, given ?? RLockEngine.create());
  }

  /** Opens the condition of a shared-buffer handle (its fields). */
  static open(h: SharedFields): ConditionEngine {
    if (!(h.buffer instanceof SharedArrayBuffer || h.buffer instanceof ArrayBuffer)) {
      throw new TypeError(`Cannot attach condition as its handle carries no buffer: received ${describe(h.buffer)}`);
    }
    const lock = openLock(h.lock, "attach condition");
    if (!lock) throw new TypeError("Cannot attach condition as its lock's handle carries no buffer: received none");
    return new ConditionEngine(h.buffer as SharedArrayBuffer, lock);
  }

  /** What a shared-buffer handle of this condition carries. */
  share(): SharedFields {
    return { buffer: this.buffer, lock: lockFields(this.lock) };
  }

  /** The kind of the condition's lock. */
  get lockKind(): "lock" | "rlock" {
    return kindOf(this.lock);
  }

  /** The lock as an RLock, for the operations only an RLock has. */
  rlock(op: string): RLockEngine {
    if (this.lock instanceof RLockEngine) return this.lock;
    throw new TypeError(`Cannot call ${op} on the lock of this condition as it is a Lock: received lock`);
  }

  // -- the lock, as the waits need it -----------------------------------------

  /**
   * True when `id` holds the lock. For a plain Lock, as CPython's
   * `threading.Condition` does, "held by someone" is all that can be checked.
   */
  owned(id: number): boolean {
    const lock = this.lock;
    if (lock instanceof RLockEngine) return lock.isOwned(id);
    if (!lock.tryAcquire(id)) return true;
    lock.release(id);
    return false;
  }

  /** Releases the lock `id` holds, every level of an RLock; returns the depth to restore. */
  #releaseSave(id: number): number {
    const lock = this.lock;
    try {
      if (lock instanceof RLockEngine) return lock.releaseSave(id);
      lock.release(id);
      return 1;
    } catch (e) {
      throw notHeld(WAIT, e);
    }
  }

  /** Re-acquires the lock with the depth {@linkcode enter} saved. */
  restoreSync(id: number, depth: number): void {
    const lock = this.lock;
    if (lock instanceof RLockEngine) lock.acquireRestoreSync(id, depth);
    else lock.acquireSync(id);
  }

  /** The asynchronous twin of {@linkcode restoreSync}; `signal` is a remote caller's (its connection closed). */
  async restore(id: number, depth: number, signal?: AbortSignal): Promise<void> {
    const lock = this.lock;
    if (lock instanceof RLockEngine) await lock.acquireRestore(id, depth, { signal });
    else await lock.acquire(id, { signal });
  }

  // -- the waiter table --------------------------------------------------------

  #state(slot: number): number {
    return W_BASE + slot * W_WORDS + W_STATE;
  }

  /**
   * Starts a wait of `id`, who holds the lock: takes a waiter slot and a
   * ticket, then releases the lock. Returns `[slot, ticket, depth]`; the
   * slot and ticket name the wait, the depth is what {@linkcode restore}
   * takes. Holds nothing when it throws (`CapacityError` with the lock still
   * held, `LockError("NotOwner")` when the lock was not held).
   */
  enter(id: number): [number, number, number] {
    const slot = this.#take(id);
    const ticket = this.ticketOf(slot);
    let depth: number;
    try {
      depth = this.#releaseSave(id);
    } catch (e) {
      this.cancel(slot, id);
      throw e;
    }
    return [slot, ticket, depth];
  }

  /** Takes a waiter slot for `id` and a ticket. */
  #take(id: number): number {
    const i = this.i32;
    const n = this.slots;
    for (let pass = 0; pass < 2; pass++) {
      const start = Atomics.load(i, C_HINT) % n;
      for (let k = 0, s = start; k < n; k++, s = s + 1 === n ? 0 : s + 1) {
        const at = this.#state(s);
        const st = Atomics.load(i, at);
        if (st === 0 && Atomics.compareExchange(i, at, 0, id) === 0) {
          Atomics.store(i, at - W_STATE + W_TICKET, Atomics.add(i, C_TICKET, 1));
          Atomics.store(i, C_HINT, s + 1 === n ? 0 : s + 1);
          return s;
        }
      }
      this.#freeDead();
    }
    throw new CapacityError("Full", `Cannot wait on condition as every waiter slot is taken: received maxWaiters ${n}`);
  }

  /** Frees the slots of dead waiters. */
  #freeDead(): void {
    for (let s = 0; s < this.slots; s++) {
      const at = this.#state(s);
      const st = Atomics.load(this.i32, at);
      if (st !== 0 && isDead(st & OWNER_MASK)) Atomics.compareExchange(this.i32, at, st, 0);
    }
  }

  /** The ticket of the waiter in `slot`: with the slot, it names one wait. */
  ticketOf(slot: number): number {
    return Atomics.load(this.i32, this.#state(slot) - W_STATE + W_TICKET);
  }

  /**
   * True when `slot` holds the wait of `id` that took `ticket` (a caller
   * names its wait; a late `cancel` must not hit a later wait that reuses
   * the slot). Bad input is a TypeError.
   */
  isWait(slot: unknown, ticket: unknown, id: number): slot is number {
    if (
      typeof slot !== "number" || !Number.isInteger(slot) || slot < 0 || slot >= this.slots ||
      typeof ticket !== "number"
    ) {
      throw new TypeError(`Cannot wait on condition as 'slot' is not a waiter slot: received ${slot}`);
    }
    return (Atomics.load(this.i32, this.#state(slot)) & OWNER_MASK) === id && this.ticketOf(slot) === ticket;
  }

  /** Leaves the slot; says why the wait ended (a notify it carries is consumed). */
  #leave(slot: number, id: number): WaitOutcome {
    const at = this.#state(slot);
    if (Atomics.compareExchange(this.i32, at, id, 0) === id) return TIMED_OUT_WAIT;
    const st = Atomics.load(this.i32, at);
    Atomics.store(this.i32, at, 0);
    return (st & CANCELLED) !== 0 ? CANCELLED_WAIT : NOTIFIED;
  }

  /** Gives the slot up at once (the wait is not sleeping); a notify it got goes on. */
  cancel(slot: number, id: number): void {
    if (this.#leave(slot, id) === NOTIFIED) this.notify(1);
  }

  /**
   * Asks the wait sleeping in `slot` to end with {@linkcode CANCELLED_WAIT}
   * (its caller aborted); does nothing once it was notified.
   */
  interrupt(slot: number, id: number): void {
    const at = this.#state(slot);
    if (Atomics.compareExchange(this.i32, at, id, id | CANCELLED) === id) wake(this.i32, at, Infinity);
  }

  /** Sleeps in `slot` until notified (true) or the deadline passes (false). */
  sleepSync(slot: number, id: number, deadline: Deadline): boolean {
    if (Atomics.load(this.i32, this.#state(slot)) !== id) return this.#leave(slot, id) === NOTIFIED;
    return runSync(this.#sleepLoop(slot, id, deadline)) === NOTIFIED;
  }

  /**
   * The asynchronous twin of {@linkcode sleepSync}, telling an interrupted
   * wait apart. When the signal aborts, the wait leaves (a notify it got
   * goes on) and it throws `LockError("Aborted")`.
   */
  sleep(slot: number, id: number, deadline: Deadline, signal?: AbortSignal): Promise<WaitOutcome> {
    if (Atomics.load(this.i32, this.#state(slot)) !== id) return Promise.resolve(this.#leave(slot, id));
    return runAsync(this.#sleepLoop(slot, id, deadline), signal, () => {
      throw abortedError("LockError", WAIT, signal);
    });
  }

  /** The slow path of a sleep, for either driver; a loop ended early gives the slot up. */
  *#sleepLoop(slot: number, id: number, deadline: Deadline): WaitLoop<WaitOutcome> {
    const at = this.#state(slot);
    let left = false;
    try {
      while (Atomics.load(this.i32, at) === id) {
        if (!(yield { i32: this.i32, index: at, expected: id, deadline, spin: true })) break;
      }
      left = true;
      return this.#leave(slot, id);
    } finally {
      if (!left) this.cancel(slot, id);
    }
  }

  /** A whole wait of `id` on this thread: release, sleep, re-acquire; true when notified. */
  waitSync(id: number, deadline: Deadline): boolean {
    const [slot, , depth] = this.enter(id);
    try {
      return this.sleepSync(slot, id, deadline);
    } finally {
      this.restoreSync(id, depth);
    }
  }

  // -- notifying ---------------------------------------------------------------

  /** Wakes up to `n` of the oldest waiters; returns how many it woke. */
  notify(n: number): number {
    if (n <= 0) return 0;
    const i = this.i32;
    const now = Atomics.load(i, C_TICKET);
    const waiting: { at: number; st: number; age: number }[] = [];
    for (let s = 0; s < this.slots; s++) {
      const at = this.#state(s);
      const st = Atomics.load(i, at);
      if (st === 0 || (st & (SIGNALLED | CANCELLED)) !== 0) continue;
      if (isDead(st & OWNER_MASK)) {
        Atomics.compareExchange(i, at, st, 0);
        continue;
      }
      // tickets wrap; the age relative to the newest is what orders them
      waiting.push({ at, st, age: (now - Atomics.load(i, at - W_STATE + W_TICKET)) | 0 });
    }
    if (waiting.length > n) waiting.sort((a, b) => b.age - a.age);
    let woken = 0;
    for (const w of waiting) {
      if (woken >= n) break;
      if (Atomics.compareExchange(i, w.at, w.st, w.st | SIGNALLED) === w.st) {
        wake(i, w.at, Infinity);
        woken++;
      }
    }
    return woken;
  }

  /** {@linkcode notify}, for a caller `id` that must hold the lock. */
  notifyHeld(id: number, n: number): number {
    if (!this.owned(id)) throw notHeld("notify condition");
    return this.notify(n);
  }
}

function describe(v: unknown): string {
  if (typeof v !== "object" || v === null) return String(v);
  const name = Object.getPrototypeOf(v)?.constructor?.name;
  return name && name !== "Object" ? `a ${name}` : "an object";
}

function countArg(n: unknown): number {
  if (n === Infinity) return Infinity;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
    throw new TypeError(`Cannot notify condition as 'n' must be a non-negative integer: received ${n}`);
  }
  return n;
}

function notHeld(what: string, cause?: unknown): unknown {
  if (cause !== undefined && !(cause instanceof LockError && cause.reason === "NotOwner")) return cause;
  return new LockError("NotOwner", `Cannot ${what} as its lock is not held by the caller`, { cause });
}

const L = lockSpec.ops;
const R = rlockSpec.ops;

/**
 * The operations of a Condition, local and remote; the owner is the
 * caller's `ctx.ownerId`. The first ones are its lock's (the ops of
 * `lockSpec` or `rlockSpec`, run on the condition's lock): a remote
 * Condition's Lock or RLock sends them to the condition.
 */
const /** @internal */ conditionOps = {
  lockKind: (e: ConditionEngine): "lock" | "rlock" => e.lockKind,
  acquire: (e: ConditionEngine, args: [number | undefined], ctx: CallContext): Promise<boolean> =>
    e.lock instanceof RLockEngine ? R.acquire(e.lock, args, ctx) : L.acquire(e.lock, args, ctx),
  tryAcquire: (e: ConditionEngine, args: [], ctx: CallContext): boolean | null =>
    e.lock instanceof RLockEngine ? R.tryAcquire(e.lock, args, ctx) : L.tryAcquire(e.lock, args, ctx),
  release: (e: ConditionEngine, args: [], ctx: CallContext): void =>
    e.lock instanceof RLockEngine ? R.release(e.lock, args, ctx) : L.release(e.lock, args, ctx),
  locked: (e: ConditionEngine): boolean => e.lock.locked(),
  isOwned: (e: ConditionEngine, args: [], ctx: CallContext): boolean => R.isOwned(e.rlock("isOwned"), args, ctx),
  releaseSave: (e: ConditionEngine, args: [], ctx: CallContext): number =>
    R.releaseSave(e.rlock("releaseSave"), args, ctx),
  acquireRestore: (e: ConditionEngine, args: [number], ctx: CallContext): Promise<boolean> =>
    R.acquireRestore(e.rlock("acquireRestore"), args, ctx),
  // takes a slot and releases the lock -> [slot, ticket, depth]; slot and ticket name the wait
  enter: (e: ConditionEngine, _: [], ctx: CallContext): [number, number, number] => e.enter(ctx.ownerId),
  sleep: (
    e: ConditionEngine,
    [slot, ticket, timeout]: [number, number, number | null],
    ctx: CallContext,
  ): Promise<WaitOutcome> => {
    if (!e.isWait(slot, ticket, ctx.ownerId)) {
      throw new TypeError(`Cannot wait on condition as the slot is not the caller's wait: received ${slot}`);
    }
    return e.sleep(slot, ctx.ownerId, deadlineOf(timeoutArg(timeout), WAIT), ctx.signal);
  },
  // gives up a wait that is not sleeping; a no-op once the wait ended
  cancel: (e: ConditionEngine, [slot, ticket]: [number, number], ctx: CallContext): void => {
    if (e.isWait(slot, ticket, ctx.ownerId)) e.cancel(slot, ctx.ownerId);
  },
  // ends a sleeping wait with CANCELLED_WAIT, unless it was notified; a no-op once it ended
  interrupt: (e: ConditionEngine, [slot, ticket]: [number, number], ctx: CallContext): void => {
    if (e.isWait(slot, ticket, ctx.ownerId)) e.interrupt(slot, ctx.ownerId);
  },
  // re-acquires the lock with the depth `enter` returned
  restore: (e: ConditionEngine, [depth]: [number], ctx: CallContext): Promise<void> =>
    e.restore(ctx.ownerId, depth, ctx.signal),
  notify: (e: ConditionEngine, [n]: [number | null], ctx: CallContext): number =>
    e.notifyHeld(ctx.ownerId, countArg(n === null ? Infinity : n)),
};

/** What a Condition waits with: the lock it releases and re-acquires. */
export type ConditionLock = Lock | RLock;

/** The Lock or RLock client of a condition's lock. */
function lockClient(kind: "lock" | "rlock", handle: Handle, backend: Backend<LockEngineOf>): ConditionLock {
  return kind === "rlock"
    ? rlockSpec.client({ ...handle, kind }, backend as Backend<RLockEngine>)
    : lockSpec.client({ ...handle, kind }, backend as Backend<LockEngine>);
}

/**
 * The loop of `waitFor`, for both twins: each `yield` asks for one wait of
 * at most the yielded timeout (ms, `undefined` for none) and resumes with
 * the predicate's next value; it returns the last value.
 */
function* waitForLoop<T>(result: T, deadline: Deadline): Generator<number | undefined, T, T> {
  while (!result) {
    const left = deadline === Infinity ? undefined : deadline - performance.now();
    if (left !== undefined && left <= 0) break;
    result = yield left;
  }
  return result;
}

/**
 * A condition variable: Python's `multiprocessing.Condition(lock)`, on any
 * transport. Its lock is an RLock unless it is given a Lock or RLock.
 *
 * Hold the lock (`acquire`, `withLock`), then `wait()` to release it, sleep
 * until `notify`, and re-acquire it — whatever ends the wait, the lock is held
 * again when `wait` returns or throws. `wait` resolves with `true` when
 * notified and `false` when the timeout elapsed (Python's return value, not
 * an error); `waitFor(predicate)` loops until the predicate holds. `notify(n)`
 * wakes the `n` oldest waiters, `notifyAll()` every one; both, and `wait`,
 * fail with `LockError("NotOwner")` unless the caller holds the lock (for a
 * plain Lock, as in CPython, "held by someone" is all that can be checked).
 *
 * Lock ownership belongs to a thread (over a socket, a connection), not to
 * an async task: two tasks of one thread both count as holders of an RLock.
 * For several tasks of one thread waiting on one condition, give it a Lock,
 * which excludes tasks of the same thread from each other.
 *
 * **Fairness**: FIFO among waiters: each takes a ticket when it starts
 * waiting and a notify wakes the oldest. Re-acquiring the lock afterwards is
 * the lock's (unfair) business.
 *
 * **Cancellation**: a `wait` whose signal aborts fails with
 * `LockError("Aborted")` after re-acquiring the lock; a notify that reached it
 * at the same moment goes on to the next waiter, so none is lost (the abort
 * asks the sleep to end, and its answer tells whether a notify got there
 * first). A `wait` whose timeout elapses returns `false`.
 *
 * **Visibility**: every slot change is a sequentially consistent atomic, and
 * the lock orders the rest: what a notifier wrote while holding the lock is
 * visible to the waiter once `wait` returns.
 *
 * **Transports**: shared buffer (sync and async) and socket (async; the
 * waiter is the connection). A condition holds up to `maxWaiters`
 * (default 64) waiters at once; one more fails with `CapacityError`. A waiter
 * that dies is skipped by the next notify; a holder of the lock that dies is
 * handled by the lock (the next acquirer takes it over).
 *
 * @example Waiting for a value
 * ```ts
 * import { Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const ready = await m.condition();
 * const box = await m.dict<string, number>();
 * const consumer = ready.withLock(() => ready.waitFor(() => box.has("x"), { timeout: 1000 }));
 * await ready.withLock(async () => {
 *   await box.set("x", 1);
 *   await ready.notifyAll();
 * });
 * console.log(await consumer); // true
 * ```
 */
export class Condition extends Shared<ConditionEngine, typeof conditionOps> {
  /** The lock: over the engine's lock at once; over a remote, once the condition said which kind it is. */
  #lock: ConditionLock | undefined;
  #pending: Promise<ConditionLock> | undefined;

  /** @internal Use `Manager.condition()` or `attach(handle)`. */
  constructor(handle: Handle, backend: Backend<ConditionEngine>) {
    super(handle, backend, conditionOps);
    const e = backend.engine;
    if (e) {
      this.#lock = lockClient(e.lockKind, { ...lockFields(e.lock), via: handle.via, registry: handle.registry }, {
        engine: e.lock,
      });
    }
  }

  /**
   * The lock, for an asynchronous call. Callers use `this.#lock` when it is
   * known, without an await, so that calls made in one turn reach the engine
   * (or the wire) in the order they were made.
   */
  #lockAsync(): Promise<ConditionLock> {
    if (this.#lock) return Promise.resolve(this.#lock);
    return this.#pending ??= Promise.resolve(this.call("lockKind", [])).then(
      (kind) => (this.#lock = lockClient(kind, this.handle, { remote: this.remote! })),
      (e) => {
        this.#pending = undefined;
        throw e;
      },
    );
  }

  /** The lock, for a Sync twin (shared buffer only). */
  #lockSync(what: string): ConditionLock {
    this.local(what);
    return this.#lock!;
  }

  // -- the lock --------------------------------------------------------------

  /** Acquires the underlying lock; fails with `LockError`. */
  async acquire(options?: WaitOptions): Promise<LockPermit> {
    return await (this.#lock ?? await this.#lockAsync()).acquire(options);
  }

  /** The synchronous twin of {@linkcode acquire} (shared buffer only). */
  acquireSync(options?: WaitOptions): LockPermit {
    return this.#lockSync("acquireSync").acquireSync(options);
  }

  /** Acquires the underlying lock if it is free, without waiting. */
  async tryAcquire(): Promise<LockPermit | undefined> {
    return await (this.#lock ?? await this.#lockAsync()).tryAcquire();
  }

  /** Releases the underlying lock. */
  async release(): Promise<void> {
    await (this.#lock ?? await this.#lockAsync()).release();
  }

  /** The synchronous twin of {@linkcode release} (shared buffer only). */
  releaseSync(): void {
    this.#lockSync("releaseSync").releaseSync();
  }

  /** Runs `fn` holding the lock and releases it however `fn` ends. */
  async withLock<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    return await (this.#lock ?? await this.#lockAsync()).withLock(fn, options);
  }

  /** The synchronous twin of {@linkcode withLock} (shared buffer only). */
  withLockSync<T>(fn: () => T, options?: WaitOptions): T {
    return this.#lockSync("withLockSync").withLockSync(fn, options);
  }

  // -- waiting ---------------------------------------------------------------

  /**
   * Releases the lock, sleeps until notified or `timeout` ms pass, and
   * re-acquires the lock: `true` when notified, `false` on timeout. The
   * caller must hold the lock.
   */
  async wait(options?: WaitOptions): Promise<boolean> {
    const deadline = deadlineOf(options?.timeout, WAIT);
    const signal = options?.signal;
    if (signal?.aborted) throw abortedError("LockError", WAIT, signal);
    // calls leave in the order they were made: an acquire made just before still waits for the lock's kind
    if (!this.#lock) await this.#lockAsync();
    const [slot, ticket, depth] = await this.call("enter", []);
    const wait: [number, number] = [slot, ticket];
    // The sleep is not cancelled with the signal: an abort asks the engine to
    // end it, and its answer tells whether a notify got there first.
    const onAbort = () => void Promise.resolve(this.call("interrupt", wait)).catch(() => {});
    let passOn = false;
    try {
      if (signal?.aborted) await this.call("cancel", wait);
      else {
        signal?.addEventListener("abort", onAbort, { once: true });
        const left = deadline === Infinity ? null : Math.max(0, deadline - performance.now());
        const outcome = await this.call("sleep", [slot, ticket, left]);
        if (!signal?.aborted) return outcome === NOTIFIED;
        // notified, yet aborted: the notify goes on to another waiter
        passOn = outcome === NOTIFIED;
      }
      throw abortedError("LockError", WAIT, signal);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      await this.call("restore", [depth]);
      if (passOn) await this.call("notify", [1]);
    }
  }

  /** The synchronous twin of {@linkcode wait} (shared buffer only). */
  waitSync(options?: WaitOptions): boolean {
    const engine = this.local("waitSync");
    const deadline = deadlineOf(options?.timeout, WAIT);
    if (options?.signal?.aborted) throw abortedError("LockError", WAIT, options.signal);
    return engine.waitSync(threadId(), deadline);
  }

  /**
   * Waits until `predicate` returns a truthy value, re-checking it after each
   * wake-up, and returns its last value (falsy when `timeout` ms passed
   * first), as Python's `wait_for`. The caller must hold the lock.
   */
  async waitFor<T>(predicate: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    const loop = waitForLoop(await predicate(), deadlineOf(options?.timeout, WAIT));
    for (let r = loop.next();; r = loop.next(await predicate())) {
      if (r.done) return r.value;
      await this.wait({ timeout: r.value, signal: options?.signal });
    }
  }

  /** The synchronous twin of {@linkcode waitFor} (shared buffer only). */
  waitForSync<T>(predicate: () => T, options?: WaitOptions): T {
    const loop = waitForLoop(predicate(), deadlineOf(options?.timeout, WAIT));
    for (let r = loop.next();; r = loop.next(predicate())) {
      if (r.done) return r.value;
      this.waitSync({ timeout: r.value, signal: options?.signal });
    }
  }

  // -- notifying -------------------------------------------------------------

  /** Wakes up to `n` (default 1) of the oldest waiters; the caller must hold the lock. */
  async notify(n = 1): Promise<void> {
    countArg(n);
    if (!this.#lock) await this.#lockAsync(); // in order after an acquire made just before (see wait)
    return this.exec("notify", [n === Infinity ? null : n]);
  }

  /** The synchronous twin of {@linkcode notify} (shared buffer only). */
  notifySync(n = 1): void {
    const engine = this.local("notifySync");
    engine.notifyHeld(threadId(), countArg(n));
  }

  /** Wakes every waiter; the caller must hold the lock. */
  notifyAll(): Promise<void> {
    return this.notify(Infinity);
  }

  /** The synchronous twin of {@linkcode notifyAll} (shared buffer only). */
  notifyAllSync(): void {
    this.notifySync(Infinity);
  }
}

/** The Condition kind. */
export const conditionSpec = defineStructure({
  kind: "condition",
  create: (params) => ConditionEngine.create(params[0], (params[1] ?? undefined) as ConditionOptions | undefined),
  share: (e: ConditionEngine) => e.share(),
  open: (h) => ConditionEngine.open(h),
  ops: conditionOps,
  client: (handle, backend: Backend<ConditionEngine>) => new Condition(handle, backend),
});
