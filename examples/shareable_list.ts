/**
 * Port of seed 002's `ShareableList` example: two processes attach a list
 * by the name of its block and add `worker_id * 10` to every number:
 *
 * ```py
 * def list_worker(shared_list_name, worker_id):
 *     shared_list = ShareableList(name=shared_list_name)
 *     for i in range(len(shared_list)):
 *         if isinstance(shared_list[i], (int, float)):
 *             shared_list[i] = shared_list[i] + worker_id * 10
 *     print(f"Worker {worker_id} processed list")
 *     print(f"List length: {len(shared_list)}")
 *     print(f"Copy of list: {shared_list.copy()}")
 *
 * shared_list = ShareableList([1, 2, 3, 4, 5])
 * print(f"Initial list: {shared_list.copy()}")
 * (2 processes: list_worker(shared_list.shm.name, i + 1); start all, join all)
 * print(f"Final list: {shared_list.copy()}")
 * shared_list.shm.close(); shared_list.shm.unlink()
 * ```
 *
 * The workers are threads. As in Python, an item's read and write are two
 * steps, so two workers can lose one's addition; usually it prints
 * `Final list: [31, 32, 33, 34, 35]`.
 *
 * Run: `node --import tsx examples/shareable_list.ts`, `deno run -A examples/shareable_list.ts`, `bun examples/shareable_list.ts`.
 * @module
 */
import { ShareableList, spawn } from "../mod.ts";
import { repr } from "./_py.ts";

const sharedList = await ShareableList.create([1, 2, 3, 4, 5]);
console.log(`Initial list: ${repr(await sharedList.toArray())}`);

const processes = [];
for (let i = 0; i < 2; i++) {
  processes.push(
    spawn(new URL("./workers/list_worker.ts", import.meta.url), { args: [sharedList.shm.name, i + 1] }),
  );
}
for (const p of processes) await p.join();

console.log(`Final list: ${repr(await sharedList.toArray())}`);
// Clean up
sharedList.shm.close();
await sharedList.shm.unlink();
