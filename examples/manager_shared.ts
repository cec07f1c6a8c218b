/**
 * Port of seed 001's "Manager for Complex Objects" programs and its
 * Exercise 2: five processes append to a `manager.list()`, set keys of a
 * `manager.dict()`, and bump a `manager.Namespace()` holding a list; then
 * five processes write ten keys each:
 *
 * ```py
 * def worker(shared_list, item): shared_list.append(item)
 * with Manager() as manager:
 *     shared_list = manager.list()   (5 processes: worker(shared_list, i))
 *     print(list(shared_list))   # [0, 1, 2, 3, 4] (order may vary)
 *
 * def worker(shared_dict, key, value): shared_dict[key] = value
 *     (5 processes: worker(shared_dict, f"key_{i}", i ** 2))
 *     print(dict(shared_dict))   # {'key_0': 0, 'key_1': 1, 'key_2': 4, 'key_3': 9, 'key_4': 16}
 *
 * def worker(ns): ns.x += 1; ns.items.append(ns.x)
 *     ns = manager.Namespace(); ns.x = 0; ns.items = manager.list()   (5 processes: worker(ns))
 *     print(f"x = {ns.x}"); print(f"items = {list(ns.items)}")
 *
 * def writer(shared_dict, pid):
 *     for i in range(10): shared_dict[f"proc{pid}_key{i}"] = i * pid
 *     d = manager.dict()   (5 processes: writer(d, i))
 *     result = dict(d); print(f"Total entries: {len(result)} (expected 50)")
 *     for k in sorted(result)[:5]: print(f" {k}: {result[k]}")
 *     print(" ...")
 * ```
 *
 * As Python's `Manager()`, the manager's server runs in a process of its
 * own (`serve: "process"`, on a unix socket); the workers are threads that
 * reach it through the socket. Python's `ns.x += 1` is a get then a set,
 * and so is the worker's: two workers can both read 0, so `x` may end below
 * 5 (as in Python; `m.value` and its `add`, or a lock, make it exact).
 *
 * Run: `node --import tsx examples/manager_shared.ts`, `deno run -A examples/manager_shared.ts`, `bun examples/manager_shared.ts`.
 * @module
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Manager, spawn } from "../mod.ts";
import { repr } from "./_py.ts";

const WORKER = new URL("./workers/manager_shared.ts", import.meta.url);

/** Starts a worker for each argument list, then joins them all. */
async function run(...args: unknown[][]): Promise<void> {
  const processes = args.map((a) => spawn(WORKER, { args: a }));
  for (const p of processes) await p.join();
}

await using manager = await Manager.start({
  transport: `unix:${join(tmpdir(), `procshare-manager-shared-${process.pid}.sock`)}`,
  serve: "process",
});

{ // Shared List
  const sharedList = await manager.list<number>();
  await run(...Array.from({ length: 5 }, (_, i) => ["appendItem", sharedList, i]));
  console.log(repr(await sharedList.toArray())); // [0, 1, 2, 3, 4] (order may vary)
}
{ // Shared Dictionary
  const sharedDict = await manager.dict<string, number>();
  await run(...Array.from({ length: 5 }, (_, i) => ["setKey", sharedDict, `key_${i}`, i ** 2]));
  console.log(repr(new Map(await sharedDict.entries())));
}
{ // Shared Namespace
  const ns = await manager.namespace();
  await ns.set("x", 0);
  // ns.items = manager.list(): a structure stored in a structure is not yet supported (issue 10 item 8),
  // so the list goes to the workers beside the namespace
  const items = await manager.list<number>();
  await run(...Array.from({ length: 5 }, () => ["bump", ns, items]));
  console.log(`x = ${await ns.get("x")}`);
  console.log(`items = ${repr(await items.toArray())}`);
}
{ // Exercise 2
  const d = await manager.dict<string, number>();
  await run(...Array.from({ length: 5 }, (_, i) => ["writer", d, i]));
  const result = new Map(await d.entries());
  console.log(`Total entries: ${result.size} (expected 50)`);
  for (const k of [...result.keys()].sort().slice(0, 5)) console.log(` ${k}: ${result.get(k)}`);
  console.log(" ...");
}
