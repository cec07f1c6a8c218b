/**
 * Issue B5, procshare side: one of two workers that, until the round is
 * stopped, loop `acquireSync` / increment a shared counter / `releaseSync`
 * on one Lock. Inside the lock it also notes who held it last, to count
 * hand-offs (acquisitions that follow the other worker's). The acquisition
 * is `tryAcquireSync()`, then, only if the lock was held, a timed
 * `acquireSync()` (the same first step acquireSync takes itself), so that
 * the clock is read only around the waits it measures.
 */
import type { Lock } from "../../../mod.ts";
import { arrive, stopped } from "../_harness.ts";

/** Word of `shared`: the counter incremented under the lock (not atomically: the lock guards it). */
export const S_COUNTER = 0;
/** Word of `shared`: who (1 or 2) held the lock last. */
export const S_LAST = 1;

/** One round of one contender. */
export interface ContenderRound {
  /** Acquisitions. */
  readonly count: number;
  /** Acquisitions that took the lock over from the other worker. */
  readonly handoffs: number;
  /** Acquisitions that found the lock held and waited. */
  readonly waits: number;
  /** Milliseconds spent in those waits, in total and at most. */
  readonly waitMs: number;
  readonly maxWaitMs: number;
  readonly ms: number;
}

export default function contender(
  lock: Lock,
  ctl: Int32Array,
  shared: Int32Array,
  me: number,
  rounds: number,
): ContenderRound[] {
  const out: ContenderRound[] = [];
  for (let round = 1; round <= rounds; round++) {
    arrive(ctl, round);
    const t0 = performance.now();
    let n = 0, handoffs = 0, waits = 0, waitMs = 0, maxWaitMs = 0;
    while (!stopped(ctl, round)) {
      if (!lock.tryAcquireSync()) {
        const t = performance.now();
        lock.acquireSync();
        const w = performance.now() - t;
        waits++;
        waitMs += w;
        if (w > maxWaitMs) maxWaitMs = w;
      }
      shared[S_COUNTER] = shared[S_COUNTER] + 1;
      if (shared[S_LAST] !== me) {
        shared[S_LAST] = me;
        handoffs++;
      }
      lock.releaseSync();
      n++;
    }
    out.push({ count: n, handoffs, waits, waitMs, maxWaitMs, ms: performance.now() - t0 });
  }
  return out;
}
