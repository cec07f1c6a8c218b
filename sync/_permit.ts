/**
 * The permit of every lock-like primitive: released once, by `release()` or by
 * leaving a `using` / `await using` block.
 * @module
 */

/**
 * Proof of holding a lock-like primitive. Release it once, by `release()` or
 * by leaving a `using` / `await using` block.
 */
export interface LockPermit extends Disposable, AsyncDisposable {
  /** True when the previous holder died holding the lock; what it guarded may be half-updated. */
  readonly ownerDied: boolean;
  /** Releases the lock. */
  release(): Promise<void>;
}

/**
 * What a permit releases: the primitive's own `release` and its fire-and-forget twin.
 *
 * @internal
 */
export interface Releasable {
  release(): Promise<void>;
  /** Releases at once if local; sends the release without awaiting it if remote. */
  releaseNow(): void;
}

/** The one permit implementation; releases its primitive at most once. */
export class HeldPermit implements LockPermit {
  #done = false;
  constructor(readonly ownerDied: boolean, readonly of: Releasable) {}
  /** True the first time only: the permit is now spent. */
  protected spend(): boolean {
    if (this.#done) return false;
    this.#done = true;
    return true;
  }
  release(): Promise<void> {
    return this.spend() ? this.of.release() : Promise.resolve();
  }
  [Symbol.dispose](): void {
    if (this.spend()) this.of.releaseNow();
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}
