/**
 * Port of seed 002's "RawValue and RawArray" example: three processes, five
 * rounds each, update an unsynchronized value and array under one manual
 * `Lock`, sleeping to simulate work:
 *
 * ```py
 * def worker_with_manual_locking(raw_value, raw_array, lock, worker_id):
 *     for _ in range(5):
 *         with lock:
 *             old_val = raw_value.value; time.sleep(0.01); raw_value.value = old_val + 1
 *             for i in range(len(raw_array)): raw_array[i] += 1
 *         print(f"Worker {worker_id} iteration completed"); time.sleep(0.1)
 *
 * raw_value = RawValue('i', 0); raw_array = RawArray('i', [0, 0, 0]); lock = Lock()
 * print(f"Initial value: {raw_value.value}"); print(f"Initial array: {list(raw_array[:])}")
 * (3 processes; start all, join all)
 * print(f"Final value: {raw_value.value}"); print(f"Final array: {list(raw_array[:])}")
 * ```
 *
 * `m.value(code, init, { lock: false })` and `m.array(…, { lock: false })`
 * are `RawValue` and `RawArray`. The workers are threads on the shared
 * buffer. Prints `Initial value: 0`, `Initial array: [0, 0, 0]`, fifteen
 * `Worker <id> iteration completed` lines (interleaved), `Final value: 15`,
 * `Final array: [15, 15, 15]`.
 *
 * Run: `node --import tsx examples/raw_value_array.ts`, `deno run -A examples/raw_value_array.ts`, `bun examples/raw_value_array.ts`.
 * @module
 */
import { Manager, spawn } from "../mod.ts";
import { repr } from "./_py.ts";

await using m = await Manager.start();
// raw shared objects (no automatic locking), and a manual lock
const rawValue = await m.value("i", 0, { lock: false });
const rawArray = await m.array("i", [0, 0, 0], { lock: false });
const lock = await m.lock();

console.log(`Initial value: ${rawValue.value}`);
console.log(`Initial array: ${repr(rawArray.sliceSync())}`);

const processes = [];
for (let i = 0; i < 3; i++) {
  processes.push(
    spawn(new URL("./workers/manual_locking.ts", import.meta.url), { args: [rawValue, rawArray, lock, i] }),
  );
}
for (const p of processes) await p.join();

console.log(`Final value: ${rawValue.value}`);
console.log(`Final array: ${repr(rawArray.sliceSync())}`);
