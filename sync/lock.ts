/**
 * A mutual-exclusion lock shared by threads, processes or machines: Python's
 * `multiprocessing.Lock`.
 *
 * ## Layout
 *
 * One Int32 word, `L_WORD`: the robust mutex word of `_mutex.ts` (0 when
 * free, else the owner's id with the waiters bit).
 * @module
 */
import { type Backend, type CallContext, type Handle, timeoutArg } from "../core/backend.ts";
import { defineStructure, type StructureSpec } from "../core/structure.ts";
import { LockError } from "../errors.ts";
import { threadId } from "../transports/_runtime/threads.ts";
import { deadlineOf, type WaitOptions } from "./_kernel.ts";
import { lockAsync, lockSync, ownerOf, tryLock, unlock } from "./_mutex.ts";
import { HeldPermit, type LockPermit } from "./_permit.ts";
import { acquireDeadline, acquiredOrThrow, LockLike } from "./_lock_like.ts";

/** Index of the lock word in a Lock's buffer. */
const L_WORD = 0;
/** Bytes of a Lock's buffer (one cache line, so that locks do not share one). */
const L_BYTES = 64;

export type { LockPermit } from "./_permit.ts";

/** The shared-buffer handle of a Lock. */
export interface LockHandle extends Handle {
  readonly kind: "lock";
}

/**
 * The lock engine: one robust mutex word in a SharedArrayBuffer.
 *
 * @internal
 */
export class LockEngine {
  readonly i32: Int32Array;
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(L_BYTES)) {
    this.i32 = new Int32Array(buffer);
  }

  /** A fresh, free lock. */
  static create(): LockEngine {
    return new LockEngine();
  }

  /** Blocks the thread until `id` holds the lock; true when the previous owner had died. */
  acquireSync(id: number, options?: WaitOptions): boolean {
    const deadline = acquireDeadline("acquire lock", options);
    if (tryLock(this.i32, L_WORD, id)) return false;
    return acquiredOrThrow(lockSync(this.i32, L_WORD, id, deadline), "acquire lock", options);
  }

  /** The asynchronous twin of {@linkcode acquireSync}. */
  async acquire(id: number, options?: WaitOptions): Promise<boolean> {
    const deadline = acquireDeadline("acquire lock", options);
    if (tryLock(this.i32, L_WORD, id)) return false;
    return acquiredOrThrow(await lockAsync(this.i32, L_WORD, id, deadline, options?.signal), "acquire lock", options);
  }

  /** Acquires for `id` if the lock is free; true when it did. */
  tryAcquire(id: number): boolean {
    return tryLock(this.i32, L_WORD, id);
  }

  /** Releases the lock `id` holds; `LockError("NotOwner")` otherwise. */
  release(id: number): void {
    if (!unlock(this.i32, L_WORD, id)) {
      throw new LockError(
        "NotOwner",
        ownerOf(this.i32, L_WORD) === 0
          ? "Cannot release lock as it is not held"
          : "Cannot release lock as it is held by another thread or process",
      );
    }
  }

  /** True when anyone holds the lock. */
  locked(): boolean {
    return ownerOf(this.i32, L_WORD) !== 0;
  }
}

/** The operations of a Lock, local and remote; the owner is the caller's `ctx.ownerId`. */
const /** @internal */ lockOps = {
  acquire: (e: LockEngine, [timeout]: [number | undefined], ctx: CallContext): Promise<boolean> =>
    e.acquire(ctx.ownerId, { timeout: timeoutArg(timeout), signal: ctx.signal }),
  tryAcquire: (e: LockEngine, _: [], ctx: CallContext): boolean => e.tryAcquire(ctx.ownerId),
  release: (e: LockEngine, _: [], ctx: CallContext): void => e.release(ctx.ownerId),
  locked: (e: LockEngine): boolean => e.locked(),
};

/**
 * A non-recursive lock: Python's `multiprocessing.Lock`, on any transport.
 *
 * Acquire it with `acquire()` (async) or `acquireSync()` (shared buffer only),
 * each taking `{ timeout, signal }` and returning a {@linkcode LockPermit} for
 * `using`; or run a function under it with `withLock`.
 *
 * Only the holder (a thread; over a socket, a connection) may release it:
 * a release by anyone else fails with `LockError("NotOwner")`. Release it
 * through the permit, or with `release()` / `releaseSync()`, which Lock
 * inherits from {@linkcode LockLike} (as RLock and Semaphore do).
 *
 * **Fairness**: none; a releaser wakes one waiter, and a thread spinning at
 * that moment may take the lock first.
 *
 * **Cancellation**: an `acquire` whose timeout elapses or whose signal aborts
 * fails with `LockError("Timeout" | "Aborted")` and holds nothing.
 *
 * **Visibility**: acquire and release are sequentially consistent atomics; all
 * writes made before a release are visible to the next acquirer.
 *
 * **Transports**: shared buffer (sync and async, spin then `Atomics.wait`)
 * and socket (async; held by the connection, released when it drops).
 * A holder that dies is detected within one wait slice (200 ms) and the next
 * acquirer's permit says `ownerDied: true`.
 *
 * @example Incrementing under a lock
 * ```ts
 * import { Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const lock = await m.lock();
 * {
 *   await using _permit = await lock.acquire({ timeout: 1000 });
 *   // critical section
 * }
 * await lock.withLock(() => console.log("held"));
 * ```
 */
export class Lock extends LockLike<LockEngine, typeof lockOps> {
  /** @internal Use `Manager.lock()` or `attach(handle)`. */
  constructor(handle: Handle, backend: Backend<LockEngine>) {
    super(handle, backend, lockOps);
  }

  /** Acquires the lock, waiting at most `timeout` ms; fails with `LockError`. */
  async acquire(options?: WaitOptions): Promise<LockPermit> {
    const e = this.engine;
    // the hot path: what the op does, without the generic dispatch
    if (e !== undefined) return new HeldPermit(await e.acquire(threadId(), options), this);
    deadlineOf(options?.timeout, "acquire lock");
    const ownerDied = await this.blocking("acquire", [options?.timeout], "LockError", "acquire lock", options?.signal);
    return new HeldPermit(ownerDied, this);
  }

  /** Blocks the thread until the lock is acquired (shared buffer only). */
  acquireSync(options?: WaitOptions): LockPermit {
    return new HeldPermit(this.local("acquireSync").acquireSync(threadId(), options), this);
  }

  /** Acquires the lock if it is free, without waiting. */
  async tryAcquire(): Promise<LockPermit | undefined> {
    return (await this.call("tryAcquire", [])) ? new HeldPermit(false, this) : undefined;
  }

  /** The synchronous twin of {@linkcode tryAcquire} (shared buffer only). */
  tryAcquireSync(): LockPermit | undefined {
    return this.local("tryAcquireSync").tryAcquire(threadId()) ? new HeldPermit(false, this) : undefined;
  }

  /** True when some thread or process holds the lock. */
  async locked(): Promise<boolean> {
    return this.call("locked", []);
  }

  /** Runs `fn` holding the lock and releases it however `fn` ends. */
  async withLock<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    return await this.holding(fn, options);
  }

  /** The synchronous twin of {@linkcode withLock} (shared buffer only). */
  withLockSync<T>(fn: () => T, options?: WaitOptions): T {
    return this.holdingSync("withLockSync", fn, options);
  }
}

/** The Lock kind. */
export const lockSpec: StructureSpec<LockEngine, typeof lockOps, Lock> = defineStructure({
  kind: "lock",
  create: () => LockEngine.create(),
  share: (e: LockEngine) => ({ buffer: e.buffer }),
  open: (h) => new LockEngine(h.buffer as SharedArrayBuffer),
  ops: lockOps,
  client: (handle, backend: Backend<LockEngine>) => new Lock(handle, backend),
});
