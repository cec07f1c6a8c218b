/**
 * The kernel's waits on a `shm:` region: every `ShmRegion` registers its
 * mapping with `sync/_kernel.ts` ({@linkcode registerForeignBuffer}) through
 * this waiter, so that the engines (Lock, RLock, Semaphore, Condition, Event,
 * Barrier, the queues and the seqlock structures) wait and wake over the
 * mapping exactly as over a `SharedArrayBuffer`, across processes, with no
 * change to their code.
 *
 * Sync waits spin briefly on their word, then block in a shared futex
 * (`FUTEX_WAIT`); async waits go through
 * this thread's relay (`futex_waitv`, or polling: transports/shm/_relay.ts);
 * wakes are `FUTEX_WAKE`, which reaches every process mapping the file. A
 * view may start anywhere in the mapping: its word `index` is the region's
 * word `byteOffset / 4 + index`, whose futex address is the mapping's address
 * plus `byteOffset + 4 * index`. A wait or wake on a closed region fails
 * with `SharedMemoryError("Closed")`.
 *
 * @example A Lock engine over a region
 * ```ts
 * import { loadFfi } from "./_ffi.ts";
 * import { ShmRegion } from "./_region.ts";
 * import { LockEngine } from "../../sync/lock.ts";
 * using region = ShmRegion.create(await loadFfi(), { maxBytes: 4096, initialBytes: 4096 });
 * const lock = new LockEngine(region.buffer as unknown as SharedArrayBuffer);
 * lock.acquireSync(1001);
 * console.log(lock.locked()); // true
 * lock.release(1001);
 * region.unlink();
 * ```
 * @module
 */
import type { ForeignWaiter, WaitResult } from "../../sync/_kernel.ts";
import { waitAsync } from "./_relay.ts";
import type { ShmRegion } from "./_region.ts";

/** `Atomics.wait`'s words for the futex's results. */
const RESULT = { ok: "ok", timeout: "timed-out", mismatch: "not-equal", aborted: "ok" } as const;

/**
 * How long a sync wait spins on its word before it sleeps in the futex, in
 * ms. Waking a process asleep in the futex costs tens of µs on a VM (its
 * CPU idles); a hand-off between two running processes takes ~1 µs. The
 * spin turns those hand-offs into loads, and costs at most this much per
 * sleep when the word does not move (a wait sleeps in slices, so a long
 * wait pays it once a slice).
 */
const SPIN_MS = 0.05;
/** Spins up to {@linkcode SPIN_MS} while `i32[index]` is `expected`; true once it moved. */
function spunOff(i32: Int32Array, index: number, expected: number): boolean {
  const until = performance.now() + SPIN_MS;
  for (let n = 1;; n++) {
    if (Atomics.load(i32, index) !== expected) return true;
    if ((n & 31) === 0 && performance.now() >= until) return false;
  }
}

/** The kernel's waiter for the views of `region`'s mapping. */
export function regionWaiter(region: ShmRegion): ForeignWaiter {
  return {
    wait: (i32: Int32Array, index: number, expected: number, ms: number): WaitResult =>
      ms > 0 && spunOff(i32, index, expected)
        ? "not-equal"
        : RESULT[region.wait((i32.byteOffset >>> 2) + index, expected, ms)],
    waitAsync: async (
      i32: Int32Array,
      index: number,
      expected: number,
      ms: number,
      signal?: AbortSignal,
    ): Promise<WaitResult> => RESULT[await waitAsync(region, (i32.byteOffset >>> 2) + index, expected, ms, signal)],
    notify: (i32: Int32Array, index: number, count: number): number =>
      region.notify((i32.byteOffset >>> 2) + index, count),
  };
}
