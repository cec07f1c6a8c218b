/** examples/shared_array.ts's worker: Python's `fill_array` and `increment_array`, chosen by name. */
import type { Lock, SharedArray } from "../../mod.ts";

/** `shared_array[i] = start_value + i` for every index. */
export function fillArray(arr: SharedArray<"d">, startValue: number): void {
  for (let i = 0; i < arr.length; i++) arr.setSync(i, startValue + i);
}

/** `arr[i] += amount` for every index, all under `lock`. */
export function incrementArray(arr: SharedArray<"i">, amount: number, lock: Lock): void {
  lock.withLockSync(() => {
    for (let i = 0; i < arr.length; i++) arr.setSync(i, arr.getSync(i) + amount);
  });
}

/** Runs the target named `name` with the rest of the arguments. */
export default function (
  name: "fillArray" | "incrementArray",
  arr: SharedArray<"d" | "i">,
  n: number,
  lock: Lock,
): void {
  if (name === "fillArray") fillArray(arr as SharedArray<"d">, n);
  else incrementArray(arr as SharedArray<"i">, n, lock);
}
