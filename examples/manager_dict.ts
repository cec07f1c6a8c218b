/**
 * Port of "Sharing state between processes — server process" from Python's
 * multiprocessing docs:
 *
 * ```py
 * with Manager() as manager:
 *     d = manager.dict(); l = manager.list(range(10))
 *     p = Process(target=f, args=(d, l)); p.start(); p.join()
 *     print(d); print(l)   # {1: '1', '2': 2, 0.25: None}  [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
 * ```
 *
 * Here the worker is a child *process* and the manager a unix-socket server,
 * as in Python. Run: `node --import tsx examples/manager_dict.ts`.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Manager, spawn } from "../mod.ts";

await using manager = await Manager.start({
  transport: `unix:${join(tmpdir(), `procshare-example-${process.pid}.sock`)}`,
});
const d = await manager.dict<unknown, unknown>();
const l = await manager.list(Array.from({ length: 10 }, (_, i) => i));
await spawn(new URL("./workers/fill_manager.ts", import.meta.url), { args: [d, l], as: "process" }).join();
console.log(JSON.stringify(await d.entries())); // [[1,"1"],["2",2],[0.25,null]]
console.log(JSON.stringify(await l.toArray())); // [9,8,7,6,5,4,3,2,1,0]
