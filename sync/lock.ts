/**
 * A mutual-exclusion lock shared by threads, processes or machines: Python's
 * `multiprocessing.Lock`.
 * @module
 */
import { LockError } from "../errors.ts";
import { type Handle, registerStructure } from "../transports/_attach.ts";
import { registerKind } from "../transports/_host.ts";
import { adoptRegistry, registryBuffer, threadId } from "../transports/_runtime/threads.ts";
import { deadlineOf, type WaitOptions } from "./_kernel.ts";
import {
  ABORTED,
  ACQUIRED_OWNER_DIED,
  lockAsync,
  type LockOutcome,
  lockSync,
  ownerOf,
  TIMED_OUT,
  tryLock,
  unlock,
} from "./_mutex.ts";
import { isAbort } from "./_remote.ts";
import { HeldPermit, type LockPermit } from "./_permit.ts";
import { LockLike } from "./_lock_like.ts";

/** Index of the lock word in a Lock's buffer. */
const L_WORD = 0;
/** Bytes of a Lock's buffer (one cache line, so that locks do not share one). */
const L_BYTES = 64;

export type { LockPermit } from "./_permit.ts";

/** The shared-buffer handle of a Lock. */
export interface LockHandle extends Handle {
  readonly kind: "lock";
}

function outcomeError(
  what: string,
  outcome: LockOutcome,
  timeout: number | undefined,
  signal?: AbortSignal,
): LockError {
  return outcome === ABORTED
    ? new LockError("Aborted", `Cannot ${what} as the signal was aborted`, { cause: signal?.reason })
    : new LockError("Timeout", `Cannot ${what} as the timeout elapsed: received ${timeout}`);
}

/** The lock engine: one robust mutex word in a SharedArrayBuffer. */
export class LockEngine {
  readonly i32: Int32Array;
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(L_BYTES)) {
    this.i32 = new Int32Array(buffer);
  }
  acquireSync(id: number, options?: WaitOptions): boolean {
    const deadline = deadlineOf(options?.timeout, "acquire lock");
    if (options?.signal?.aborted) throw outcomeError("acquire lock", ABORTED, options.timeout, options.signal);
    if (tryLock(this.i32, L_WORD, id)) return false;
    const r = lockSync(this.i32, L_WORD, id, deadline);
    if (r === TIMED_OUT) throw outcomeError("acquire lock", r, options?.timeout);
    return r === ACQUIRED_OWNER_DIED;
  }
  async acquire(id: number, options?: WaitOptions): Promise<boolean> {
    const deadline = deadlineOf(options?.timeout, "acquire lock");
    if (options?.signal?.aborted) throw outcomeError("acquire lock", ABORTED, options.timeout, options.signal);
    if (tryLock(this.i32, L_WORD, id)) return false;
    const r = await lockAsync(this.i32, L_WORD, id, deadline, options?.signal);
    if (r === TIMED_OUT || r === ABORTED) throw outcomeError("acquire lock", r, options?.timeout, options?.signal);
    return r === ACQUIRED_OWNER_DIED;
  }
  tryAcquire(id: number): boolean {
    return tryLock(this.i32, L_WORD, id);
  }
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
  locked(): boolean {
    return ownerOf(this.i32, L_WORD) !== 0;
  }
}

registerKind<LockEngine>("lock", {
  create: () => new LockEngine(),
  localHandle: (e) => ({ kind: "lock", via: "shared-buffer", buffer: e.buffer, registry: registryBuffer() }),
  ops: {
    acquire: (e, [timeout], ctx) =>
      e.acquire(ctx.ownerId, { timeout: timeout as number | undefined, signal: ctx.signal }),
    tryAcquire: (e, _, ctx) => e.tryAcquire(ctx.ownerId),
    release: (e, _, ctx) => e.release(ctx.ownerId),
    locked: (e) => e.locked(),
  },
});

/**
 * A non-recursive lock: Python's `multiprocessing.Lock`, on any transport.
 *
 * Acquire it with `acquire()` (async) or `acquireSync()` (shared buffer only),
 * each taking `{ timeout, signal }` and returning a {@linkcode LockPermit} for
 * `using`; or run a function under it with `withLock`.
 *
 * Only the holder (a thread; over a socket, a connection) may release it:
 * a release by anyone else fails with `LockError("NotOwner")`.
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
 * **Transports**: shared buffer (sync and async, spin then `Atomics.wait`),
 * socket and pipe (async; held by the connection, released when it drops).
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
export class Lock extends LockLike<LockEngine> {
  /** Acquires the lock, waiting at most `timeout` ms; fails with `LockError`. */
  async acquire(options?: WaitOptions): Promise<LockPermit> {
    if (this.engine) return new HeldPermit(await this.engine.acquire(threadId(), options), this);
    if (options?.signal?.aborted) throw outcomeError("acquire lock", ABORTED, options.timeout, options.signal);
    try {
      return new HeldPermit(
        (await this.remote!.call("acquire", [options?.timeout], options?.signal)) as boolean,
        this,
      );
    } catch (e) {
      if (isAbort(e)) throw outcomeError("acquire lock", ABORTED, options?.timeout, options?.signal);
      throw e;
    }
  }

  /** Blocks the thread until the lock is acquired (shared buffer only). */
  acquireSync(options?: WaitOptions): LockPermit {
    return new HeldPermit(this.local("acquireSync").acquireSync(threadId(), options), this);
  }

  /** Acquires the lock if it is free, without waiting. */
  async tryAcquire(): Promise<LockPermit | undefined> {
    const ok = this.engine ? this.engine.tryAcquire(threadId()) : await this.remote!.call("tryAcquire", []);
    return ok ? new HeldPermit(false, this) : undefined;
  }

  /** The synchronous twin of {@linkcode tryAcquire} (shared buffer only). */
  tryAcquireSync(): LockPermit | undefined {
    return this.local("tryAcquireSync").tryAcquire(threadId()) ? new HeldPermit(false, this) : undefined;
  }

  /** True when some thread or process holds the lock. */
  async locked(): Promise<boolean> {
    return this.engine ? this.engine.locked() : (await this.remote!.call("locked", [])) as boolean;
  }

  /** Runs `fn` holding the lock and releases it however `fn` ends. */
  async withLock<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    return this.holding(fn, options);
  }

  /** The synchronous twin of {@linkcode withLock} (shared buffer only). */
  withLockSync<T>(fn: () => T, options?: WaitOptions): T {
    return this.holdingSync("withLockSync", fn, options);
  }
}

export { unsupportedSync } from "./_lock_like.ts";

registerStructure("lock", {
  fromLocal: (h) => {
    adoptRegistry(h.registry as SharedArrayBuffer);
    return new Lock(h, new LockEngine(h.buffer as SharedArrayBuffer));
  },
  fromRemote: (h, remote) => new Lock(h, undefined, remote),
});
