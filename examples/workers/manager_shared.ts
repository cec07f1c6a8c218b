/** examples/manager_shared.ts's worker: Python's four `worker`/`writer` functions, chosen by name. */
import type { Dict, List, Namespace } from "../../mod.ts";

/** `shared_list.append(item)`. */
export async function appendItem(sharedList: List<number>, item: number): Promise<void> {
  await sharedList.append(item);
}

/** `shared_dict[key] = value`. */
export async function setKey(sharedDict: Dict<string, number>, key: string, value: number): Promise<void> {
  await sharedDict.set(key, value);
}

/** `ns.x += 1; ns.items.append(ns.x)`: a get then a set, as in Python, so two workers can both write 1. */
export async function bump(ns: Namespace, items: List<number>): Promise<void> {
  await ns.set("x", (await ns.get<number>("x"))! + 1);
  await items.append((await ns.get<number>("x"))!);
}

/** Ten keys `proc<pid>_key<i>` = `i * pid`. */
export async function writer(sharedDict: Dict<string, number>, pid: number): Promise<void> {
  for (let i = 0; i < 10; i++) await sharedDict.set(`proc${pid}_key${i}`, i * pid);
}

/** Runs the target named `name` with the rest of the arguments. */
export default async function (name: "appendItem" | "setKey" | "bump" | "writer", ...args: unknown[]): Promise<void> {
  if (name === "appendItem") await appendItem(args[0] as List<number>, args[1] as number);
  else if (name === "setKey") await setKey(args[0] as Dict<string, number>, args[1] as string, args[2] as number);
  else if (name === "bump") await bump(args[0] as Namespace, args[1] as List<number>);
  else await writer(args[0] as Dict<string, number>, args[1] as number);
}
