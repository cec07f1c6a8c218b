/** Worker: `n` read-modify-write updates of a Value, each under the Value's lock. */
import type { Value } from "../../../structures/value.ts";

export default function (v: Value<"i32">, n: number): number {
  const lock = v.getLock();
  for (let i = 0; i < n; i++) lock.withLockSync(() => v.storeSync(v.loadSync() + 1));
  return n;
}
