/**
 * A condition variable shared by threads, processes or machines: Python's
 * `multiprocessing.Condition`.
 *
 * ## Layout
 *
 * A Condition is its lock (a Lock or RLock, a structure of its own) plus a
 * waiter table in one SharedArrayBuffer of Int32 words:
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
 * @module
 */
import { CapacityError, LockError } from "../errors.ts";
import { attach } from "../attach.ts";
import { type Handle, isHandle, registerStructure, structureOf } from "../transports/_attach.ts";
import { type CallContext, registerKind } from "../transports/_host.ts";
import { adoptRegistry, isDead, registryBuffer, threadId } from "../transports/_runtime/threads.ts";
import { type Deadline, deadlineOf, SPINS, type WaitOptions, waitSlice, waitSliceAsync } from "./_kernel.ts";
import { ABORTED, OWNER_MASK } from "./_mutex.ts";
import type { Remote } from "./_remote.ts";
import { Lock, type LockPermit, unsupportedSync } from "./lock.ts";
import { RLock, RLOCK_OPS, RLockEngine, waitError } from "./rlock.ts";

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
/** Set in a slot's state when a remote waiter's abort asks its sleep to end. */
export const CANCELLED = 0x80000000 | 0;

/** A wait ended by its timeout. */
const TIMED_OUT_WAIT = 0;
/** A wait ended by a notify. */
const NOTIFIED = 1;
/** A wait ended by `interrupt` (its remote caller aborted). */
const CANCELLED_WAIT = 2;
/** Why a wait ended. */
type WaitOutcome = typeof TIMED_OUT_WAIT | typeof NOTIFIED | typeof CANCELLED_WAIT;

/** Waiter slots when `maxWaiters` is not given. */
export const DEFAULT_MAX_WAITERS = 64;
/** Most waiter slots a condition may have. */
const MAX_WAITERS = 1 << 16;

/** Options of `Manager.condition`. */
export interface ConditionOptions {
  /**
   * Threads (or connections) that may wait at the same time (default
   * {@linkcode DEFAULT_MAX_WAITERS}); one more fails with `CapacityError`.
   * Each slot costs 8 bytes.
   */
  readonly maxWaiters?: number;
}

/** The shared-buffer handle of a Condition: its waiter table and its lock's handle. */
export interface ConditionHandle extends Handle {
  readonly kind: "condition";
}

/**
 * The condition engine: the waiter table, and the RLock the condition was
 * created with unless it was given a lock (whose handle it then keeps).
 */
export class ConditionEngine {
  readonly i32: Int32Array;
  readonly slots: number;
  /** The RLock the condition owns, when it was not given one. */
  readonly ownLock: RLockEngine | undefined;
  /** The handle of the lock it was given, if any. */
  readonly givenLock: Handle | undefined;

  constructor(readonly buffer: SharedArrayBuffer, lock?: RLockEngine | Handle) {
    this.i32 = new Int32Array(buffer);
    this.slots = Atomics.load(this.i32, C_SLOTS);
    if (lock instanceof RLockEngine) this.ownLock = lock;
    else this.givenLock = lock;
  }

  /** A fresh condition over `lock` (a Lock or RLock handle), else over a new RLock. */
  static create(lock?: unknown, options?: ConditionOptions): ConditionEngine {
    if (lock !== undefined && lock !== null && !(isHandle(lock) && (lock.kind === "lock" || lock.kind === "rlock"))) {
      throw new TypeError(`Cannot create condition as 'lock' must be a Lock or RLock: received ${describe(lock)}`);
    }
    const n = options?.maxWaiters ?? DEFAULT_MAX_WAITERS;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_WAITERS) {
      throw new TypeError(
        `Cannot create condition as 'maxWaiters' must be an integer from 1 to ${MAX_WAITERS}: received ${n}`,
      );
    }
    const buffer = new SharedArrayBuffer((W_BASE + n * W_WORDS) * 4);
    new Int32Array(buffer)[C_SLOTS] = n;
    return new ConditionEngine(buffer, (lock ?? RLockEngine.create()) as RLockEngine | Handle);
  }

  /** The handle threads of this process attach to. */
  localHandle(): ConditionHandle {
    return {
      kind: "condition",
      via: "shared-buffer",
      buffer: this.buffer,
      registry: registryBuffer(),
      lock: this.givenLock ?? this.ownLock!.localHandle(),
    };
  }

  /** The condition's own RLock, for the remote lock operations. */
  embedded(): RLockEngine {
    if (!this.ownLock) {
      throw new TypeError("Cannot call a lock operation on this condition as its lock is a structure of its own");
    }
    return this.ownLock;
  }

  #state(slot: number): number {
    return W_BASE + slot * W_WORDS + W_STATE;
  }

  /** Takes a waiter slot for `id` and a ticket; the caller holds the lock. */
  enter(id: number): number {
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
   * True when `slot` holds the wait of `id` that took `ticket` (a remote
   * caller names its wait; a late `cancel` must not hit a later wait that
   * reuses the slot). Bad input is a TypeError.
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
   * (a remote caller's abort); does nothing once it was notified.
   */
  interrupt(slot: number, id: number): void {
    const at = this.#state(slot);
    if (Atomics.compareExchange(this.i32, at, id, id | CANCELLED) === id) Atomics.notify(this.i32, at);
  }

  /** Sleeps in `slot` until notified (true) or the deadline passes (false). */
  sleepSync(slot: number, id: number, deadline: Deadline): boolean {
    const at = this.#state(slot);
    for (let k = 0; k < SPINS; k++) {
      if (Atomics.load(this.i32, at) !== id) return this.#leave(slot, id) === NOTIFIED;
    }
    for (;;) {
      if (Atomics.load(this.i32, at) !== id || !waitSlice(this.i32, at, id, deadline)) {
        return this.#leave(slot, id) === NOTIFIED;
      }
    }
  }

  /**
   * The asynchronous twin of {@linkcode sleepSync}, telling a cancelled wait
   * apart. When the signal aborts, the wait leaves (a notify it got goes on)
   * and it throws `LockError("Aborted")`.
   */
  async sleep(
    slot: number,
    id: number,
    deadline: Deadline,
    signal: AbortSignal | undefined,
    timeout?: number,
  ): Promise<WaitOutcome> {
    const at = this.#state(slot);
    for (let k = 0; k < SPINS; k++) {
      if (Atomics.load(this.i32, at) !== id) return this.#leave(slot, id);
    }
    for (;;) {
      if (signal?.aborted) {
        this.cancel(slot, id);
        throw waitError("wait on condition", ABORTED, timeout, signal);
      }
      if (Atomics.load(this.i32, at) !== id) return this.#leave(slot, id);
      if (!(await waitSliceAsync(this.i32, at, id, deadline, signal))) return this.#leave(slot, id);
    }
  }

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
        Atomics.notify(i, w.at);
        woken++;
      }
    }
    return woken;
  }
}

function describe(v: unknown): string {
  if (typeof v !== "object" || v === null) return String(v);
  const name = Object.getPrototypeOf(v)?.constructor?.name;
  return name && name !== "Object" ? `a ${name}` : "an object";
}

function timeoutArg(v: unknown): number | undefined {
  return v === null ? undefined : v as number | undefined;
}

function countArg(n: unknown): number {
  if (n === Infinity) return Infinity;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
    throw new TypeError(`Cannot notify condition as 'n' must be a non-negative integer: received ${n}`);
  }
  return n;
}

type Op = (e: ConditionEngine, args: readonly unknown[], ctx: CallContext) => unknown;
const lockOps: Record<string, Op> = {};
for (const [name, op] of Object.entries(RLOCK_OPS)) {
  lockOps[name] = (e, args, ctx) =>
    (op as (e: RLockEngine, a: readonly unknown[], c: CallContext) => unknown)(e.embedded(), args, ctx);
}

registerKind<ConditionEngine>("condition", {
  create: (params) => ConditionEngine.create(params[0], (params[1] ?? undefined) as ConditionOptions | undefined),
  localHandle: (e) => e.localHandle(),
  ops: {
    ...lockOps,
    lockHandle: (e) => e.givenLock ?? null,
    // -> [slot, ticket]: names this wait in "sleep" and "cancel"
    enter: (e, _, ctx) => {
      const slot = e.enter(ctx.ownerId);
      return [slot, e.ticketOf(slot)];
    },
    sleep: (e, [slot, ticket, timeout], ctx) => {
      if (!e.isWait(slot, ticket, ctx.ownerId)) {
        throw new TypeError(`Cannot wait on condition as the slot is not the caller's wait: received ${slot}`);
      }
      const t = timeoutArg(timeout);
      return e.sleep(slot, ctx.ownerId, deadlineOf(t, "wait on condition"), ctx.signal, t);
    },
    // gives up a wait that is not sleeping; a no-op once the wait ended
    cancel: (e, [slot, ticket], ctx) => {
      if (e.isWait(slot, ticket, ctx.ownerId)) e.cancel(slot, ctx.ownerId);
    },
    // ends a sleeping wait with CANCELLED_WAIT, unless it was notified; a no-op once it ended
    interrupt: (e, [slot, ticket], ctx) => {
      if (e.isWait(slot, ticket, ctx.ownerId)) e.interrupt(slot, ctx.ownerId);
    },
    notify: (e, [n]) => e.notify(countArg(n === null ? Infinity : n)),
  },
});

/** What a Condition waits with: the lock it releases and re-acquires. */
export type ConditionLock = Lock | RLock;

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
 * at the same moment goes on to the next waiter, so none is lost (over a
 * socket the abort asks the manager to end the sleep, and waits for its
 * answer to know). A `wait` whose timeout elapses returns `false`.
 *
 * **Visibility**: every slot change is a sequentially consistent atomic, and
 * the lock orders the rest: what a notifier wrote while holding the lock is
 * visible to the waiter once `wait` returns.
 *
 * **Transports**: shared buffer (sync and async), socket and pipe (async;
 * the waiter is the connection). A condition holds up to `maxWaiters`
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
export class Condition {
  readonly #core: ConditionEngine | undefined;
  readonly #remote: Remote | undefined;
  readonly #lock: ConditionLock;
  /** Serializable description: pass it to a worker and `attach` it there. */
  readonly handle: Handle;

  /** @internal Use `Manager.condition()` or `attach(handle)`. */
  constructor(handle: Handle, lock: ConditionLock, core?: ConditionEngine, remote?: Remote) {
    this.handle = handle;
    this.#lock = lock;
    this.#core = core;
    this.#remote = remote;
  }

  #local(what: string): ConditionEngine {
    if (!this.#core) throw unsupportedSync(what, this.handle.via);
    return this.#core;
  }

  // -- the lock --------------------------------------------------------------

  /** Acquires the underlying lock; fails with `LockError`. */
  acquire(options?: WaitOptions): Promise<LockPermit> {
    return this.#lock.acquire(options);
  }

  /** The synchronous twin of {@linkcode acquire} (shared buffer only). */
  acquireSync(options?: WaitOptions): LockPermit {
    return this.#lock.acquireSync(options);
  }

  /** Acquires the underlying lock if it is free, without waiting. */
  tryAcquire(): Promise<LockPermit | undefined> {
    return this.#lock.tryAcquire();
  }

  /** Releases the underlying lock. */
  release(): Promise<void> {
    return this.#lock.release();
  }

  /** The synchronous twin of {@linkcode release} (shared buffer only). */
  releaseSync(): void {
    this.#lock.releaseSync();
  }

  /** Runs `fn` holding the lock and releases it however `fn` ends. */
  withLock<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    return this.#lock.withLock(fn, options);
  }

  /** The synchronous twin of {@linkcode withLock} (shared buffer only). */
  withLockSync<T>(fn: () => T, options?: WaitOptions): T {
    return this.#lock.withLockSync(fn, options);
  }

  // -- ownership, release-save and acquire-restore ----------------------------

  async #owned(): Promise<boolean> {
    const lock = this.#lock;
    if (lock instanceof RLock) return await lock.isOwned();
    // as CPython's threading.Condition does for a plain lock
    const p = await lock.tryAcquire();
    if (!p) return true;
    await p.release();
    return false;
  }

  #ownedSync(): boolean {
    const lock = this.#lock;
    if (lock instanceof RLock) return lock.isOwnedSync();
    const p = lock.tryAcquireSync();
    if (!p) return true;
    p[Symbol.dispose]();
    return false;
  }

  async #releaseSave(): Promise<number> {
    const lock = this.#lock;
    try {
      if (lock instanceof RLock) return await lock.releaseSave();
      await lock.release();
      return 1;
    } catch (e) {
      throw notHeld("wait on condition", e);
    }
  }

  #releaseSaveSync(): number {
    const lock = this.#lock;
    try {
      if (lock instanceof RLock) return lock.releaseSaveSync();
      lock.releaseSync();
      return 1;
    } catch (e) {
      throw notHeld("wait on condition", e);
    }
  }

  async #acquireRestore(depth: number): Promise<void> {
    const lock = this.#lock;
    if (lock instanceof RLock) await lock.acquireRestore(depth);
    else await lock.acquire();
  }

  #acquireRestoreSync(depth: number): void {
    const lock = this.#lock;
    if (lock instanceof RLock) lock.acquireRestoreSync(depth);
    else lock.acquireSync();
  }

  // -- waiting ---------------------------------------------------------------

  /**
   * Releases the lock, sleeps until notified or `timeout` ms pass, and
   * re-acquires the lock: `true` when notified, `false` on timeout. The
   * caller must hold the lock.
   */
  async wait(options?: WaitOptions): Promise<boolean> {
    const deadline = deadlineOf(options?.timeout, "wait on condition");
    const signal = options?.signal;
    if (signal?.aborted) throw waitError("wait on condition", ABORTED, options?.timeout, signal);
    const core = this.#core;
    if (!core) return await this.#waitRemote(deadline, options);
    const id = threadId();
    const slot = core.enter(id);
    let depth: number;
    try {
      depth = await this.#releaseSave();
    } catch (e) {
      core.cancel(slot, id);
      throw e;
    }
    try {
      return (await core.sleep(slot, id, deadline, signal, options?.timeout)) === NOTIFIED;
    } finally {
      await this.#acquireRestore(depth);
    }
  }

  async #waitRemote(deadline: number, options: WaitOptions | undefined): Promise<boolean> {
    const remote = this.#remote!;
    const signal = options?.signal;
    const wait = (await remote.call("enter", [])) as [number, number];
    let depth: number;
    try {
      depth = await this.#releaseSave();
    } catch (e) {
      await remote.call("cancel", wait).catch(() => {});
      throw e;
    }
    // The sleep is not cancelled with the signal: an abort asks the manager to
    // end it, and its answer tells whether a notify got there first.
    const onAbort = () => void remote.call("interrupt", wait).catch(() => {});
    try {
      if (signal?.aborted) await remote.call("cancel", wait);
      else {
        signal?.addEventListener("abort", onAbort, { once: true });
        const left = deadline === Infinity ? null : Math.max(0, deadline - performance.now());
        const outcome = (await remote.call("sleep", [...wait, left])) as WaitOutcome;
        if (!signal?.aborted) return outcome === NOTIFIED;
        // notified, yet aborted: the notify goes on to another waiter
        if (outcome === NOTIFIED) await remote.call("notify", [1]);
      }
      throw waitError("wait on condition", ABORTED, options?.timeout, signal);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      await this.#acquireRestore(depth);
    }
  }

  /** The synchronous twin of {@linkcode wait} (shared buffer only). */
  waitSync(options?: WaitOptions): boolean {
    const core = this.#local("waitSync");
    const deadline = deadlineOf(options?.timeout, "wait on condition");
    if (options?.signal?.aborted) throw waitError("wait on condition", ABORTED, options.timeout, options.signal);
    const id = threadId();
    const slot = core.enter(id);
    let depth: number;
    try {
      depth = this.#releaseSaveSync();
    } catch (e) {
      core.cancel(slot, id);
      throw e;
    }
    try {
      return core.sleepSync(slot, id, deadline);
    } finally {
      this.#acquireRestoreSync(depth);
    }
  }

  /**
   * Waits until `predicate` returns a truthy value, re-checking it after each
   * wake-up, and returns its last value (falsy when `timeout` ms passed
   * first), as Python's `wait_for`. The caller must hold the lock.
   */
  async waitFor<T>(predicate: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    const deadline = deadlineOf(options?.timeout, "wait on condition");
    let result = await predicate();
    while (!result) {
      const left = deadline === Infinity ? undefined : deadline - performance.now();
      if (left !== undefined && left <= 0) break;
      await this.wait({ timeout: left, signal: options?.signal });
      result = await predicate();
    }
    return result;
  }

  /** The synchronous twin of {@linkcode waitFor} (shared buffer only). */
  waitForSync<T>(predicate: () => T, options?: WaitOptions): T {
    const deadline = deadlineOf(options?.timeout, "wait on condition");
    let result = predicate();
    while (!result) {
      const left = deadline === Infinity ? undefined : deadline - performance.now();
      if (left !== undefined && left <= 0) break;
      this.waitSync({ timeout: left, signal: options?.signal });
      result = predicate();
    }
    return result;
  }

  // -- notifying -------------------------------------------------------------

  /** Wakes up to `n` (default 1) of the oldest waiters; the caller must hold the lock. */
  async notify(n = 1): Promise<void> {
    countArg(n);
    if (!(await this.#owned())) throw notHeld("notify condition");
    if (this.#core) this.#core.notify(n);
    else await this.#remote!.call("notify", [n === Infinity ? null : n]);
  }

  /** The synchronous twin of {@linkcode notify} (shared buffer only). */
  notifySync(n = 1): void {
    const core = this.#local("notifySync");
    countArg(n);
    if (!this.#ownedSync()) throw notHeld("notify condition");
    core.notify(n);
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

function notHeld(what: string, cause?: unknown): unknown {
  if (cause !== undefined && !(cause instanceof LockError && cause.reason === "NotOwner")) return cause;
  return new LockError("NotOwner", `Cannot ${what} as its lock is not held by the caller`, { cause });
}

registerStructure("condition", {
  fromLocal: (h) => {
    adoptRegistry(h.registry as SharedArrayBuffer);
    const core = new ConditionEngine(h.buffer as SharedArrayBuffer);
    const lockHandle = h.lock as Handle;
    if (lockHandle.via === "shared-buffer") {
      return new Condition(h, structureOf(lockHandle.kind).fromLocal(lockHandle) as ConditionLock, core);
    }
    return attach<ConditionLock>(lockHandle).then((lock) => new Condition(h, lock, core));
  },
  fromRemote: async (h, remote) => {
    const given = await remote.call("lockHandle", []);
    // the condition's own RLock is served by the condition itself
    const lock = given ? await attach<ConditionLock>(given as Handle) : new RLock(h, undefined, remote);
    return new Condition(h, lock, undefined, remote);
  },
});
