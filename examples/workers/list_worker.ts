/** examples/shareable_list.ts's worker: Python's `list_worker`. */
import { ShareableList } from "../../mod.ts";
import { repr } from "../_py.ts";

/** Attaches the list by its block's name and adds `workerId * 10` to every number in it. */
export default async function listWorker(sharedListName: string, workerId: number): Promise<void> {
  const sharedList = await ShareableList.attach(sharedListName);
  for (let i = 0; i < sharedList.length; i++) {
    const item = await sharedList.get(i);
    if (typeof item === "number") await sharedList.set(i, item + workerId * 10);
  }
  console.log(`Worker ${workerId} processed list`);
  console.log(`List length: ${sharedList.length}`);
  console.log(`Copy of list: ${repr(await sharedList.toArray())}`);
}
