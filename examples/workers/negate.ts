/** Worker of examples/value_array.ts: Python's `f(n, a)` from the multiprocessing docs. */
import type { SharedArray, Value } from "../../mod.ts";

export default async function (n: Value<"d">, a: SharedArray<"i">): Promise<void> {
  await n.store(3.1415927);
  for (let i = 0; i < a.length; i++) await a.set(i, -(await a.get(i)));
}
