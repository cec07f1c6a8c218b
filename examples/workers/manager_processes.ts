/** examples/manager_processes.ts's worker (a child process): Python's `worker` and `update_namespace`, chosen by name. */
import type { Dict, List, Namespace } from "../../mod.ts";

/** Writes this worker's dict entry and list item. */
export async function worker(
  sharedDict: Dict<string, string>,
  sharedList: List<string>,
  workerId: number,
): Promise<void> {
  await sharedDict.set(`worker_${workerId}`, `Hello from ${workerId}`);
  await sharedList.append(`Item from worker ${workerId}`);
  console.log(`Worker ${workerId} completed`);
}

/** `ns.counter += 1` (a get then a set), a message, and an attribute of its own. */
export async function updateNamespace(ns: Namespace, messages: List<string>, workerId: number): Promise<void> {
  await ns.set("counter", (await ns.get<number>("counter"))! + 1);
  await messages.append(`Message from worker ${workerId}`);
  await ns.set(`worker_${workerId}_status`, "completed");
}

/** Runs the target named `name` with the rest of the arguments. */
export default async function (name: "worker" | "updateNamespace", ...args: unknown[]): Promise<void> {
  if (name === "worker") {
    await worker(args[0] as Dict<string, string>, args[1] as List<string>, args[2] as number);
  } else await updateNamespace(args[0] as Namespace, args[1] as List<string>, args[2] as number);
}
