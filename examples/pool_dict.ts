/**
 * Port of seed 000's second answer, "how to use the functionality of
 * multiprocessing.Pool" with a manager's dict:
 *
 * ```py
 * def f(d: dict) -> None:
 *     pid = os.getpid()
 *     d[pid] = "Hi, I was written by process %d" % pid
 *
 * with mp.Manager() as manager:
 *     d = manager.dict()
 *     with manager.Pool() as pool:
 *         pool.map(f, repeat(d, 10))
 *     pprint.pprint(dict(d))
 * ```
 *
 * The dict lives in a manager served over a unix socket by this process; the
 * pool's workers are child processes (one per core, as Python's default)
 * that reach it through the handle `map` sends with each item. Each worker
 * writes its own entry, so the dict holds one entry per worker that ran a
 * task, as Python's output has one per process.
 *
 * Run: `node --import tsx examples/pool_dict.ts`, `deno run -A examples/pool_dict.ts`,
 * `bun examples/pool_dict.ts`.
 * @module
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Manager, Pool } from "../mod.ts";
import type f from "./workers/pool_dict.ts";

await using manager = await Manager.start({
  transport: `unix:${join(tmpdir(), `procshare-pool-dict-${process.pid}.sock`)}`,
});
const d = await manager.dict<number, string>();
{
  await using pool = await Pool.start<typeof f>(new URL("./workers/pool_dict.ts", import.meta.url), { as: "process" });
  await pool.map(Array(10).fill(d)); // pool.map(f, repeat(d, 10))
}
// pprint.pprint(dict(d)): sorted keys, one entry a line
const entries = (await d.entries()).sort(([a], [b]) => a - b);
console.log(`{${entries.map(([k, v]) => `${k}: '${v}'`).join(",\n ")}}`);
