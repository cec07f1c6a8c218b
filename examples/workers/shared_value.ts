/** examples/shared_value.ts's worker: Python's three `increment` functions, chosen by name. */
import type { Lock, Value } from "../../mod.ts";

/** `shared_counter.value += 1`, `n` times: a load then a store, so two workers can lose updates. */
export function increment(counter: Value<"i">, n: number): void {
  for (let i = 0; i < n; i++) counter.value += 1;
}

/** The same, each step under `lock` (`with lock:`). */
export function incrementWithLock(counter: Value<"i">, n: number, lock: Lock): void {
  for (let i = 0; i < n; i++) lock.withLockSync(() => counter.value += 1);
}

/** The same, each step under the Value's own lock (`with shared_counter.get_lock():`). */
export function incrementGetLock(counter: Value<"i">, n: number): void {
  for (let i = 0; i < n; i++) counter.getLock().withLockSync(() => counter.value += 1);
}

const TARGETS = { increment, incrementWithLock, incrementGetLock };

/** Runs the target named `name` with the rest of the arguments. */
export default function (name: keyof typeof TARGETS, counter: Value<"i">, n: number, lock: Lock): void {
  TARGETS[name](counter, n, lock);
}
