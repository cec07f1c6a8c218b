/**
 * Port of seed 000, "multiprocessing: How do I share a dict among multiple
 * processes?" — the answer's program, with four processes instead of two,
 * each also writing its own entry as the answer's Pool variant does:
 *
 * ```py
 * def f(d):
 *     d[1] += '1'
 *     d['2'] += 2
 *
 * manager = Manager()
 * d = manager.dict(); d[1] = '1'; d['2'] = 2
 * p1 = Process(target=f, args=(d,)); p2 = Process(target=f, args=(d,))
 * p1.start(); p2.start(); p1.join(); p2.join()
 * print(d)   # {1: '111', '2': 6}
 * ```
 *
 * The dict lives in a manager served over a unix socket by this process; the
 * four children are separate OS processes started by `spawn(url, { as:
 * "process" })` and reach it through the handle passed among their
 * arguments. Python's `d[1] += '1'` is a get then a set, so two processes can
 * lose each other's update; the children here use `compute`, an atomic
 * read-modify-write, so the printed dict is always
 * `{1: '11111', '2': 10, <pid>: 'Hi, I was written by process <pid>', …}`.
 *
 * Run: `node --import tsx examples/dict_among_processes.ts`,
 * `deno run -A examples/dict_among_processes.ts`, `bun examples/dict_among_processes.ts`.
 * @module
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Manager, spawn } from "../mod.ts";
import type f from "./workers/dict_among_processes.ts";

/** Processes sharing the dict. */
const PROCESSES = 4;

/** Python's repr of a str or int, for printing the dict as Python does. */
function repr(x: unknown): string {
  return typeof x === "string" ? `'${x.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'` : String(x);
}

await using manager = await Manager.start({
  transport: `unix:${join(tmpdir(), `procshare-dict-among-processes-${process.pid}.sock`)}`,
});
const d = await manager.dict<number | string, number | string>();
await d.set(1, "1");
await d.set("2", 2);

const children = Array.from(
  { length: PROCESSES },
  () => spawn<typeof f>(new URL("./workers/dict_among_processes.ts", import.meta.url), { args: [d], as: "process" }),
);
await Promise.all(children.map((p) => p.join()));

console.log(`{${(await d.entries()).map(([k, v]) => `${repr(k)}: ${repr(v)}`).join(", ")}}`);
