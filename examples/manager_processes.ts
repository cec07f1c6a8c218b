/**
 * Port of seed 002's two Manager examples (the multiprocess fork's docs):
 * three processes write a dict and a list, then four update a Namespace
 * and set attributes of their own:
 *
 * ```py
 * def worker(shared_dict, shared_list, worker_id):
 *     shared_dict[f'worker_{worker_id}'] = f'Hello from {worker_id}'
 *     shared_list.append(f'Item from worker {worker_id}')
 *     print(f"Worker {worker_id} completed")
 * with Manager() as manager:
 *     shared_dict = manager.dict(); shared_list = manager.list()
 *     (3 processes: worker(shared_dict, shared_list, i); start each, join all)
 *     print(f"Final dict: {dict(shared_dict)}"); print(f"Final list: {list(shared_list)}")
 *
 * def update_namespace(ns, worker_id):
 *     ns.counter += 1
 *     ns.messages.append(f"Message from worker {worker_id}")
 *     setattr(ns, f'worker_{worker_id}_status', 'completed')
 * with Manager() as manager:
 *     ns = manager.Namespace(); ns.counter = 0; ns.messages = manager.list()
 *     (4 processes: update_namespace(ns, i))
 *     print(f"Counter: {ns.counter}"); print(f"Messages: {list(ns.messages)}")
 *     for attr in dir(ns):
 *         if not attr.startswith('_'): print(f"{attr}: {getattr(ns, attr)}")
 * ```
 *
 * As Python's, the manager's server is a process of its own (`serve:
 * "process"`, a unix socket) and the workers are child processes
 * (`as: "process"`). `ns.counter += 1` is a get then a set here as in
 * Python (two workers can both read the same count). A structure stored in
 * a structure (`ns.messages = manager.list()`) is not yet supported (issue
 * 10 item 8): the list goes to the workers beside the namespace, so `dir`
 * lists `counter` and the four `worker_<id>_status` attributes.
 *
 * Run: `node --import tsx examples/manager_processes.ts`, `deno run -A examples/manager_processes.ts`, `bun examples/manager_processes.ts`.
 * @module
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Manager, spawn } from "../mod.ts";
import { repr } from "./_py.ts";

const WORKER = new URL("./workers/manager_processes.ts", import.meta.url);

await using manager = await Manager.start({
  transport: `unix:${join(tmpdir(), `procshare-manager-processes-${process.pid}.sock`)}`,
  serve: "process",
});

{
  const sharedDict = await manager.dict<string, string>();
  const sharedList = await manager.list<string>();
  const processes = [];
  for (let i = 0; i < 3; i++) {
    processes.push(spawn(WORKER, { args: ["worker", sharedDict, sharedList, i], as: "process" }));
  }
  for (const p of processes) await p.join();
  console.log(`Final dict: ${repr(new Map(await sharedDict.entries()))}`);
  console.log(`Final list: ${repr(await sharedList.toArray())}`);
}
{
  const ns = await manager.namespace();
  await ns.set("counter", 0);
  const messages = await manager.list<string>(); // ns.messages = manager.list()
  const processes = [];
  for (let i = 0; i < 4; i++) {
    processes.push(spawn(WORKER, { args: ["updateNamespace", ns, messages, i], as: "process" }));
  }
  for (const p of processes) await p.join();
  console.log(`Counter: ${await ns.get("counter")}`);
  console.log(`Messages: ${repr(await messages.toArray())}`);
  const attrs = await ns.toObject();
  for (const attr of Object.keys(attrs).sort()) {
    if (!attr.startsWith("_")) console.log(`${attr}: ${attrs[attr]}`);
  }
}
