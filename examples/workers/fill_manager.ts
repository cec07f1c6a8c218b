/** Worker of examples/manager_dict.ts: Python's `f(d, l)` from the multiprocessing docs. */
import type { Dict, List } from "../../mod.ts";

export default async function (d: Dict<unknown, unknown>, l: List<number>): Promise<void> {
  await d.set(1, "1");
  await d.set("2", 2);
  await d.set(0.25, null);
  await l.reverse();
}
