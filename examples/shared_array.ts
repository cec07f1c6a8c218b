/**
 * Port of seed 001's "Shared Array" programs (Python's `Array`): a process
 * fills an array, arrays made from values and from a size, and ten
 * processes add to every element under a lock:
 *
 * ```py
 * def fill_array(shared_array, start_value):
 *     for i in range(len(shared_array)): shared_array[i] = start_value + i
 * arr = Array('d', 5)
 * p = Process(target=fill_array, args=(arr, 10)); p.start(); p.join()
 * print(list(arr))   # [10.0, 11.0, 12.0, 13.0, 14.0]
 *
 * arr1 = Array('i', [1, 2, 3, 4, 5]); print(list(arr1))   # [1, 2, 3, 4, 5]
 * arr2 = Array('d', 10); print(list(arr2))                # [0.0, 0.0, ..., 0.0]
 *
 * def increment_array(arr, lock, amount):
 *     with lock:
 *         for i in range(len(arr)): arr[i] += amount
 * arr = Array('i', [0, 0, 0, 0, 0]); lock = Lock()
 * (10 processes: increment_array(arr, lock, 1); start all, join all)
 * print(list(arr))   # [10, 10, 10, 10, 10]
 * ```
 *
 * The workers are threads on the shared buffer (the Sync twins read and
 * write the shared memory directly). Prints the four lists as Python does.
 *
 * Run: `node --import tsx examples/shared_array.ts`, `deno run -A examples/shared_array.ts`, `bun examples/shared_array.ts`.
 * @module
 */
import { Manager, spawn } from "../mod.ts";
import { repr } from "./_py.ts";

const WORKER = new URL("./workers/shared_array.ts", import.meta.url);
await using m = await Manager.start();

{ // Basic Array
  const arr = await m.array("d", 5); // 'd' = double, size 5
  const p = spawn(WORKER, { args: ["fillArray", arr, 10] });
  await p.join();
  console.log(repr(arr.toArraySync(), { float: true })); // [10.0, 11.0, 12.0, 13.0, 14.0]
}
{ // Initialize with values, or with a size (zeros)
  const arr1 = await m.array("i", [1, 2, 3, 4, 5]);
  console.log(repr(arr1.toArraySync())); // [1, 2, 3, 4, 5]
  const arr2 = await m.array("d", 10);
  console.log(repr(arr2.toArraySync(), { float: true })); // [0.0, 0.0, ..., 0.0]
}
{ // Concurrent Array Access
  const arr = await m.array("i", [0, 0, 0, 0, 0]);
  const lock = await m.lock();
  const processes = [];
  for (let i = 0; i < 10; i++) processes.push(spawn(WORKER, { args: ["incrementArray", arr, 1, lock] }));
  for (const p of processes) await p.join();
  console.log(repr(arr.toArraySync())); // [10, 10, 10, 10, 10]
}
