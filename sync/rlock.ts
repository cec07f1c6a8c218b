/**
 * A re-entrant lock shared by threads, processes or machines: Python's
 * `multiprocessing.RLock`.
 *
 * ## Layout
 *
 * Two Int32 words: `R_WORD`, the robust mutex word of `_mutex.ts` (0 when
 * free, else the owner's id with the waiters bit), and `R_COUNT`, the
 * recursion depth, written only by the owner while it holds the word.
 * @module
 */
import { type Backend, type CallContext, type Handle, timeoutArg } from "../core/backend.ts";
import { defineStructure, type StructureSpec } from "../core/structure.ts";
import { LockError } from "../errors.ts";
import { isDead, threadId } from "../transports/_runtime/threads.ts";
import { deadlineOf, type WaitOptions } from "./_kernel.ts";
import { acquireDeadline, acquiredOrThrow, LockLike } from "./_lock_like.ts";
import { HeldPermit, type LockPermit } from "./_permit.ts";
import { lockAsync, lockSync, OWNER_MASK, ownerOf, tryLock, unlock, WAITERS } from "./_mutex.ts";

/** Index of the robust mutex word (owner id | WAITERS) in an RLock's buffer. */
const R_WORD = 0;
/** Index of the recursion depth; written only by the owner while it holds the word. */
const R_COUNT = 1;
/** Bytes of an RLock's buffer (one cache line, so that locks do not share one). */
const R_BYTES = 64;
/** Deepest recursion an RLock counts. */
const MAX_DEPTH = 0x7fffffff;

/** The shared-buffer handle of an RLock. */
export interface RLockHandle extends Handle {
  readonly kind: "rlock";
}

/**
 * The RLock engine: a robust mutex word plus a recursion count, in a
 * SharedArrayBuffer. Every method takes the caller's owner id (a thread id,
 * or over a socket the connection's id).
 *
 * @internal
 */
export class RLockEngine {
  readonly i32: Int32Array;
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(R_BYTES)) {
    this.i32 = new Int32Array(buffer);
  }

  /** A fresh, unlocked engine. */
  static create(): RLockEngine {
    return new RLockEngine();
  }

  /** Re-enters when `id` already owns the lock; true when it did. */
  #reenter(id: number): boolean {
    if (ownerOf(this.i32, R_WORD) !== id) return false;
    const depth = Atomics.load(this.i32, R_COUNT);
    if (depth >= MAX_DEPTH) {
      throw new RangeError(`Cannot acquire rlock as its recursion depth is at the limit: received ${depth}`);
    }
    Atomics.store(this.i32, R_COUNT, depth + 1);
    return true;
  }

  /** Took the word: the depth starts at `depth` (a dead owner's count is dropped). */
  #took(ownerDied: boolean, depth: number): boolean {
    Atomics.store(this.i32, R_COUNT, depth);
    return ownerDied;
  }

  /**
   * Blocks the thread until `id` holds the lock; true when the previous owner
   * had died. The wait itself is `_mutex.ts`'s one lock loop, as in
   * {@linkcode acquire}.
   */
  acquireSync(id: number, options?: WaitOptions, depth = 1): boolean {
    const deadline = acquireDeadline("acquire rlock", options);
    if (this.#reenter(id)) return false;
    if (tryLock(this.i32, R_WORD, id)) return this.#took(false, depth);
    return this.#took(acquiredOrThrow(lockSync(this.i32, R_WORD, id, deadline), "acquire rlock", options), depth);
  }

  /** The asynchronous twin of {@linkcode acquireSync}. */
  async acquire(id: number, options?: WaitOptions, depth = 1): Promise<boolean> {
    const deadline = acquireDeadline("acquire rlock", options);
    if (this.#reenter(id)) return false;
    if (tryLock(this.i32, R_WORD, id)) return this.#took(false, depth);
    const outcome = await lockAsync(this.i32, R_WORD, id, deadline, options?.signal);
    return this.#took(acquiredOrThrow(outcome, "acquire rlock", options), depth);
  }

  /**
   * Acquires without waiting: `undefined` when another live owner holds it,
   * else whether the previous owner had died (a dead owner's lock is taken).
   */
  tryAcquire(id: number): boolean | undefined {
    if (this.#reenter(id)) return false;
    if (tryLock(this.i32, R_WORD, id)) return this.#took(false, 1);
    const v = Atomics.load(this.i32, R_WORD);
    if (v !== 0 && isDead(v & OWNER_MASK) && Atomics.compareExchange(this.i32, R_WORD, v, id | (v & WAITERS)) === v) {
      return this.#took(true, 1);
    }
    return undefined;
  }

  #checkOwner(id: number, what: string): void {
    const owner = ownerOf(this.i32, R_WORD);
    if (owner === id) return;
    throw new LockError(
      "NotOwner",
      owner === 0 ? `Cannot ${what} as it is not held` : `Cannot ${what} as it is held by another thread or process`,
    );
  }

  /** Leaves one level; the lock is free once the depth reaches 0. */
  release(id: number): void {
    this.#checkOwner(id, "release rlock");
    const depth = Atomics.load(this.i32, R_COUNT) - 1;
    Atomics.store(this.i32, R_COUNT, depth);
    if (depth <= 0) unlock(this.i32, R_WORD, id);
  }

  /** Releases every level at once and returns how many there were (Python's `_release_save`). */
  releaseSave(id: number): number {
    this.#checkOwner(id, "release rlock");
    const depth = Atomics.load(this.i32, R_COUNT);
    Atomics.store(this.i32, R_COUNT, 0);
    unlock(this.i32, R_WORD, id);
    return depth;
  }

  /** Re-acquires with the depth {@linkcode releaseSave} returned (Python's `_acquire_restore`). */
  acquireRestoreSync(id: number, depth: number, options?: WaitOptions): boolean {
    return this.acquireSync(id, options, checkDepth(depth));
  }

  /** The asynchronous twin of {@linkcode acquireRestoreSync}. */
  acquireRestore(id: number, depth: number, options?: WaitOptions): Promise<boolean> {
    return this.acquire(id, options, checkDepth(depth));
  }

  /** True when `id` holds the lock. */
  isOwned(id: number): boolean {
    return ownerOf(this.i32, R_WORD) === id;
  }

  /** True when anyone holds the lock. */
  locked(): boolean {
    return ownerOf(this.i32, R_WORD) !== 0;
  }

  /** The recursion depth of the holder (0 when free). */
  depth(): number {
    return ownerOf(this.i32, R_WORD) === 0 ? 0 : Atomics.load(this.i32, R_COUNT);
  }
}

function checkDepth(depth: unknown): number {
  if (typeof depth !== "number" || !Number.isInteger(depth) || depth < 1 || depth > MAX_DEPTH) {
    throw new TypeError(`Cannot restore rlock as 'depth' must be a positive integer: received ${depth}`);
  }
  return depth;
}

/**
 * The operations of an RLock, local and remote; the owner is the caller's
 * `ctx.ownerId`. A Condition created without a lock serves them too, for the
 * RLock it embeds.
 */
const /** @internal */ rlockOps = {
  acquire: (e: RLockEngine, [timeout]: [number | undefined], ctx: CallContext): Promise<boolean> =>
    e.acquire(ctx.ownerId, { timeout: timeoutArg(timeout), signal: ctx.signal }),
  tryAcquire: (e: RLockEngine, _: [], ctx: CallContext): boolean | null => e.tryAcquire(ctx.ownerId) ?? null,
  release: (e: RLockEngine, _: [], ctx: CallContext): void => e.release(ctx.ownerId),
  releaseSave: (e: RLockEngine, _: [], ctx: CallContext): number => e.releaseSave(ctx.ownerId),
  acquireRestore: (e: RLockEngine, [depth]: [number], ctx: CallContext): Promise<boolean> =>
    e.acquireRestore(ctx.ownerId, depth, { signal: ctx.signal }),
  isOwned: (e: RLockEngine, _: [], ctx: CallContext): boolean => e.isOwned(ctx.ownerId),
  locked: (e: RLockEngine): boolean => e.locked(),
};

/**
 * A re-entrant lock: Python's `multiprocessing.RLock`, on any transport.
 *
 * The thread (over a socket: the connection) holding it may acquire it again
 * without blocking; it is free once released as many times as acquired.
 * A release by anyone but the holder fails with `LockError("NotOwner")`;
 * `release()` and `releaseSync()` are inherited from {@linkcode LockLike}.
 * Ownership belongs to the thread, not to an async task: two tasks of one
 * thread both count as the holder.
 *
 * **Fairness**: none; a releaser wakes one waiter, and a thread spinning at
 * that moment may take the lock first.
 *
 * **Cancellation**: an `acquire` whose timeout elapses or whose signal aborts
 * fails with `LockError("Timeout" | "Aborted")` and holds nothing (a
 * re-entrant acquire never waits, so it never fails that way).
 *
 * **Visibility**: acquire and release are sequentially consistent atomics; all
 * writes made before the last release are visible to the next acquirer.
 *
 * **Transports**: shared buffer (sync and async, spin then `Atomics.wait`)
 * and socket (async; held by the connection, released when it drops).
 * A holder that dies is detected within one wait slice (200 ms): the next
 * acquirer gets the lock with a depth of 1 and `permit.ownerDied === true`.
 *
 * @example Re-entering a lock
 * ```ts
 * import { Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const rlock = await m.rlock();
 * await rlock.withLock(async () => {
 *   await rlock.withLock(() => console.log("held twice"));
 * });
 * console.log(await rlock.locked()); // false
 * ```
 */
export class RLock extends LockLike<RLockEngine, typeof rlockOps> {
  /** @internal Use `Manager.rlock()` or `attach(handle)`. */
  constructor(handle: Handle, backend: Backend<RLockEngine>) {
    super(handle, backend, rlockOps);
  }

  #permit(ownerDied: boolean): LockPermit {
    return new HeldPermit(ownerDied, this);
  }

  /** Acquires the lock (again, if held by this thread); fails with `LockError`. */
  async acquire(options?: WaitOptions): Promise<LockPermit> {
    deadlineOf(options?.timeout, "acquire rlock");
    return this.#permit(
      await this.blocking("acquire", [options?.timeout], "LockError", "acquire rlock", options?.signal),
    );
  }

  /** Blocks the thread until the lock is acquired (shared buffer only). */
  acquireSync(options?: WaitOptions): LockPermit {
    return this.#permit(this.local("acquireSync").acquireSync(threadId(), options));
  }

  /** Acquires the lock if it is free or already this thread's, without waiting. */
  async tryAcquire(): Promise<LockPermit | undefined> {
    const r = await this.call("tryAcquire", []);
    return r === undefined || r === null ? undefined : this.#permit(r);
  }

  /** The synchronous twin of {@linkcode tryAcquire} (shared buffer only). */
  tryAcquireSync(): LockPermit | undefined {
    const r = this.local("tryAcquireSync").tryAcquire(threadId());
    return r === undefined ? undefined : this.#permit(r);
  }

  /** True when some thread or process holds the lock. */
  async locked(): Promise<boolean> {
    return this.call("locked", []);
  }

  /** True when the calling thread (over a socket: this connection) holds the lock. */
  async isOwned(): Promise<boolean> {
    return this.call("isOwned", []);
  }

  /** The synchronous twin of {@linkcode isOwned} (shared buffer only). */
  isOwnedSync(): boolean {
    return this.local("isOwnedSync").isOwned(threadId());
  }

  /** Runs `fn` holding the lock and releases it however `fn` ends. */
  async withLock<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    return await this.holding(fn, options);
  }

  /** The synchronous twin of {@linkcode withLock} (shared buffer only). */
  withLockSync<T>(fn: () => T, options?: WaitOptions): T {
    return this.holdingSync("withLockSync", fn, options);
  }

  /** @internal Releases every level (Condition.wait); returns the depth. */
  async releaseSave(): Promise<number> {
    return this.call("releaseSave", []);
  }

  /** @internal The synchronous twin of {@linkcode releaseSave}. */
  releaseSaveSync(): number {
    return this.local("releaseSaveSync").releaseSave(threadId());
  }

  /** @internal Re-acquires with a saved depth, ignoring any timeout (Condition.wait). */
  async acquireRestore(depth: number): Promise<boolean> {
    return this.call("acquireRestore", [depth]);
  }

  /** @internal The synchronous twin of {@linkcode acquireRestore}. */
  acquireRestoreSync(depth: number): boolean {
    return this.local("acquireRestoreSync").acquireRestoreSync(threadId(), depth);
  }
}

/** The RLock kind. */
export const rlockSpec: StructureSpec<RLockEngine, typeof rlockOps, RLock> = defineStructure({
  kind: "rlock",
  create: () => RLockEngine.create(),
  share: (e: RLockEngine) => ({ buffer: e.buffer }),
  open: (h) => new RLockEngine(h.buffer as SharedArrayBuffer),
  ops: rlockOps,
  client: (handle, backend: Backend<RLockEngine>) => new RLock(handle, backend),
});
