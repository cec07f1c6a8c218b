/** examples/raw_value_array.ts's worker: Python's `worker_with_manual_locking`. */
import { setTimeout as sleep } from "node:timers/promises";
import type { Lock, RawArray, RawValue } from "../../mod.ts";

/** Five rounds: under `lock`, a slow read-modify-write of the value and +1 on every element; then a pause. */
export default async function workerWithManualLocking(
  rawValue: RawValue<"i">,
  rawArray: RawArray<"i">,
  lock: Lock,
  workerId: number,
): Promise<void> {
  for (let round = 0; round < 5; round++) {
    await lock.withLock(async () => {
      const oldVal = rawValue.value;
      await sleep(10); // simulate some work
      rawValue.value = oldVal + 1;
      for (let i = 0; i < rawArray.length; i++) rawArray.setSync(i, rawArray.getSync(i) + 1);
    });
    console.log(`Worker ${workerId} iteration completed`);
    await sleep(100);
  }
}
