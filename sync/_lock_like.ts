/**
 * What Lock, RLock and Semaphore share: the client skeleton (a
 * {@linkcode Shared} client whose op table has a `release` op), the release
 * operations, which are the same for all three, and the two ends of a
 * blocking acquisition on the engine side.
 * @module
 */
import type { Backend, CallContext, Handle } from "../core/backend.ts";
import { type ArgsOf, type OpTable, Shared } from "../core/structure.ts";
import { abortedError, timedOutError } from "../errors.ts";
import { threadId } from "../transports/_runtime/threads.ts";
import { type Deadline, deadlineOf, type WaitOptions } from "./_kernel.ts";
import { ABORTED, ACQUIRED_OWNER_DIED, type LockOutcome, TIMED_OUT } from "./_mutex.ts";
import type { LockPermit, Releasable } from "./_permit.ts";

/**
 * An engine a thread (by id) acquires and releases.
 *
 * @internal
 */
export interface ReleasingEngine {
  acquireSync(id: number, options?: WaitOptions): unknown;
  release(id: number): void;
}

/**
 * The op every lock-like kind has: release what the caller (`ctx.ownerId`) holds.
 *
 * @internal
 */
export interface ReleaseOp<E> {
  readonly release: (engine: E, args: [], ctx: CallContext) => unknown;
}

/**
 * The start of a blocking acquisition: validates the timeout into a deadline
 * and fails with `LockError("Aborted")` when the signal has already fired.
 */
export function acquireDeadline(what: string, options?: WaitOptions): Deadline {
  const deadline = deadlineOf(options?.timeout, what);
  if (options?.signal?.aborted) throw abortedError("LockError", what, options.signal);
  return deadline;
}

/**
 * The end of a blocking acquisition: `ownerDied` when the word was taken, or
 * `LockError("Timeout" | "Aborted")` when the wait gave up.
 */
export function acquiredOrThrow(outcome: LockOutcome, what: string, options?: WaitOptions): boolean {
  if (outcome === TIMED_OUT) throw timedOutError("LockError", what, options?.timeout);
  if (outcome === ABORTED) throw abortedError("LockError", what, options?.signal);
  return outcome === ACQUIRED_OWNER_DIED;
}

/**
 * A lock-like primitive on any transport: the base of {@linkcode Lock},
 * {@linkcode RLock} and {@linkcode Semaphore}, which inherit `release()` and
 * `releaseSync()` from it. A release gives back what the calling thread
 * (over a socket, the connection) holds; who may release is each class's
 * rule (the holder of a Lock or RLock; anyone, for a Semaphore).
 *
 * @example Releasing without the permit
 * ```ts
 * import { Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const lock = await m.lock();
 * await lock.acquire();
 * await lock.release();
 * const slots = await m.semaphore(2);
 * await slots.acquire();
 * slots.releaseSync(); // shared buffer only
 * console.log(await lock.locked(), await slots.value()); // false 2
 * ```
 */
export abstract class LockLike<E extends ReleasingEngine, O extends OpTable<E> & ReleaseOp<E>> extends Shared<E, O>
  implements Releasable {
  /** @internal Use the Manager's factory or `attach(handle)`. */
  constructor(handle: Handle, backend: Backend<E>, ops: O) {
    super(handle, backend, ops);
  }

  /**
   * Releases what the calling thread (remotely: connection) holds: the lock,
   * one level of an RLock, or a semaphore permit. See the class for who may.
   */
  async release(): Promise<void> {
    if (this.engine !== undefined) return this.releaseSync();
    return this.exec("release", [] as ArgsOf<O["release"]>);
  }

  /** The synchronous twin of {@linkcode release} (shared buffer only). */
  releaseSync(): void {
    this.local("releaseSync").release(threadId());
  }

  /** Acquires one hold, waiting at most `timeout` ms; fails with `LockError`. */
  abstract acquire(options?: WaitOptions): Promise<LockPermit>;

  /** Runs `fn` holding one acquisition and releases it however `fn` ends (withLock, withPermit). */
  protected async holding<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    const permit = await this.acquire(options);
    try {
      return await fn();
    } finally {
      await permit.release();
    }
  }

  /** The synchronous twin of {@linkcode holding} (shared buffer only). */
  protected holdingSync<T>(what: string, fn: () => T, options?: WaitOptions): T {
    const engine = this.local(what);
    const id = threadId();
    engine.acquireSync(id, options);
    try {
      return fn();
    } finally {
      engine.release(id);
    }
  }

  /** @internal Releases now if local (a refused release throws), or sends the release without awaiting it. */
  releaseNow(): void {
    if (this.engine) this.engine.release(threadId());
    else Promise.resolve(this.call("release", [] as ArgsOf<O["release"]>)).catch(() => {});
  }
}
