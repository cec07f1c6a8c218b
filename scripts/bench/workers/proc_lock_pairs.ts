/**
 * Section C, in a child process: uncontended `lock.acquireSync();
 * lock.releaseSync()` pairs on a lock of a `shm:` manager, timed as B4 times
 * them in the main thread (no other process touches the lock).
 */
import type { Lock } from "../../../mod.ts";
import type { BenchOptions } from "../_harness.ts";
import { type ProcResult, timeTogetherSync } from "./_proc.ts";

export default async function procLockPairs(lock: Lock, o: BenchOptions): Promise<ProcResult> {
  return await timeTogetherSync((n) => {
    for (let j = 0; j < n; j++) {
      lock.acquireSync();
      lock.releaseSync();
    }
    return n;
  }, o);
}
