/**
 * The client-side skeleton shared by Lock, RLock and Semaphore: a structure
 * backed by a local engine (shared buffer) or a `Remote` (socket, pipe), and
 * the release operations, which are the same for all three.
 * @module
 */
import type { Handle } from "../transports/_attach.ts";
import { threadId } from "../transports/_runtime/threads.ts";
import type { WaitOptions } from "./_kernel.ts";
import type { LockPermit, Releasable } from "./_permit.ts";
import type { Remote } from "./_remote.ts";

/** The typed error of a Sync twin called on a transport without shared memory. */
export function unsupportedSync(what: string, via: string): Error {
  return new TypeError(`Cannot call ${what} as the '${via}' transport has no synchronous operations`);
}

/** An engine a thread (by id) acquires and releases. */
export interface ReleasingEngine {
  acquireSync(id: number, options?: WaitOptions): unknown;
  release(id: number): void;
}

/** A lock-like primitive on any transport. */
export abstract class LockLike<E extends ReleasingEngine> implements Releasable {
  /** The engine, when the structure lives in this thread's shared memory. */
  protected readonly engine: E | undefined;
  /** The manager connection, otherwise. */
  protected readonly remote: Remote | undefined;
  /** Serializable description: pass it to a worker and `attach` it there. */
  readonly handle: Handle;

  /** @internal Use the Manager's factory or `attach(handle)`. */
  constructor(handle: Handle, engine?: E, remote?: Remote) {
    this.handle = handle;
    this.engine = engine;
    this.remote = remote;
  }

  /** The local engine, or the typed error of a Sync twin on a remote transport. */
  protected local(what: string): E {
    if (!this.engine) throw unsupportedSync(what, this.handle.via);
    return this.engine;
  }

  /**
   * Releases what the calling thread (remotely: connection) holds: the lock,
   * one level of an RLock, or a semaphore permit. See the class for who may.
   */
  async release(): Promise<void> {
    if (this.engine) return this.engine.release(threadId());
    await this.remote!.call("release", []);
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

  /** @internal Releases now if local, or sends the release without awaiting it. */
  releaseNow(): void {
    if (this.engine) this.engine.release(threadId());
    else this.remote!.call("release", []).catch(() => {});
  }
}
