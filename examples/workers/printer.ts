/** Worker of examples/lock_print.ts: prints under the lock so lines never interleave. */
import type { Lock } from "../../mod.ts";

export default function (lock: Lock, i: number): void {
  lock.withLockSync(() => console.log("hello world", i));
}
