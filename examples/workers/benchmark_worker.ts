/** examples/sync_vs_raw.ts's worker: Python's `benchmark_worker` and its two tests. */
import type { Lock, RawValue, Value } from "../../mod.ts";

/** Increments under the Value's own lock; returns the seconds it took. */
export function testSynchronizedValue(sharedVal: Value<"i">, iterations: number): number {
  const start = performance.now();
  for (let i = 0; i < iterations; i++) sharedVal.getLock().withLockSync(() => sharedVal.value += 1);
  return (performance.now() - start) / 1000;
}

/** Increments under a manual lock; returns the seconds it took. */
export function testRawValue(rawVal: RawValue<"i">, lock: Lock, iterations: number): number {
  const start = performance.now();
  for (let i = 0; i < iterations; i++) lock.withLockSync(() => rawVal.value += 1);
  return (performance.now() - start) / 1000;
}

/** Runs one test and prints its duration. */
export default function benchmarkWorker(
  testType: "synchronized" | "raw",
  sharedObj: RawValue<"i">,
  extraArg: Lock | null,
  iterations: number,
): void {
  const duration = testType === "synchronized"
    ? testSynchronizedValue(sharedObj as Value<"i">, iterations)
    : testRawValue(sharedObj, extraArg!, iterations);
  console.log(`${testType} test completed in ${duration.toFixed(3)} seconds`);
}
