/**
 * Port of "Sharing state between processes — shared memory" from Python's
 * multiprocessing docs:
 *
 * ```py
 * num = Value('d', 0.0); arr = Array('i', range(10))
 * p = Process(target=f, args=(num, arr)); p.start(); p.join()
 * print(num.value, arr[:])   # 3.1415927 [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]
 * ```
 *
 * Run: `node --import tsx examples/value_array.ts` (or `deno run -A`, `bun`).
 */
import { Manager, spawn } from "../mod.ts";

await using m = await Manager.start();
const num = await m.value("d", 0.0);
const arr = await m.array("i", Array.from({ length: 10 }, (_, i) => i));
await spawn(new URL("./workers/negate.ts", import.meta.url), { args: [num, arr] }).join();
console.log(await num.load(), await arr.toArray());
