/** examples/value_array_lock.ts's worker: Python's `modify_shared_data`. */
import type { SharedArray, Value } from "../../mod.ts";

/** Adds 10 to the value and doubles every element, each under its object's own lock. */
export default function modifySharedData(sharedValue: Value<"i">, sharedArray: SharedArray<"f">): void {
  sharedValue.getLock().withLockSync(() => sharedValue.value += 10);
  sharedArray.getLock().withLockSync(() => {
    for (let i = 0; i < sharedArray.length; i++) sharedArray.setSync(i, sharedArray.getSync(i) * 2);
  });
}
