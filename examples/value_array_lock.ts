/**
 * Port of seed 002's "Value and Array" example (the multiprocess fork's
 * docs): two processes each add 10 to a `Value('i', 5)` and double every
 * element of an `Array('f', …)`, each under the object's own lock:
 *
 * ```py
 * def modify_shared_data(shared_value, shared_array):
 *     with shared_value.get_lock(): shared_value.value += 10
 *     with shared_array.get_lock():
 *         for i in range(len(shared_array)): shared_array[i] = shared_array[i] * 2
 *
 * shared_int = Value('i', 5); shared_floats = Array('f', [1.0, 2.0, 3.0, 4.0])
 * print(f"Initial value: {shared_int.value}"); print(f"Initial array: {list(shared_floats[:])}")
 * (2 processes: modify_shared_data(shared_int, shared_floats))
 * print(f"Final value: {shared_int.value}"); print(f"Final array: {list(shared_floats[:])}")
 * ```
 *
 * The workers are threads on the shared buffer. Prints `Initial value: 5`,
 * `Initial array: [1.0, 2.0, 3.0, 4.0]`, `Final value: 25`,
 * `Final array: [4.0, 8.0, 12.0, 16.0]`.
 *
 * Run: `node --import tsx examples/value_array_lock.ts`, `deno run -A examples/value_array_lock.ts`, `bun examples/value_array_lock.ts`.
 * @module
 */
import { Manager, spawn } from "../mod.ts";
import { repr } from "./_py.ts";

await using m = await Manager.start();
const sharedInt = await m.value("i", 5); // 'i' = signed int
const sharedFloats = await m.array("f", [1.0, 2.0, 3.0, 4.0]); // 'f' = float

console.log(`Initial value: ${sharedInt.value}`);
console.log(`Initial array: ${repr(sharedFloats.sliceSync(), { float: true })}`);

const processes = [];
for (let i = 0; i < 2; i++) {
  processes.push(
    spawn(new URL("./workers/modify_shared_data.ts", import.meta.url), { args: [sharedInt, sharedFloats] }),
  );
}
for (const p of processes) await p.join();

console.log(`Final value: ${sharedInt.value}`);
console.log(`Final array: ${repr(sharedFloats.sliceSync(), { float: true })}`);
