/**
 * Port of the "Queue of tasks" pattern from Python's multiprocessing docs:
 * consumers take tasks from a JoinableQueue, mark each done, and the
 * producer `join`s the queue before reading the results.
 *
 * Run: `node --import tsx examples/joinable_queue.ts`.
 */
import { Manager, spawn } from "../mod.ts";

await using m = await Manager.start();
const tasks = await m.joinableQueue<number | null>();
const results = await m.queue<string>();
const consumers = ["c1", "c2"].map((name) =>
  spawn(new URL("./workers/task_worker.ts", import.meta.url), { args: [tasks, results, name] })
);
for (let n = 0; n < 10; n++) await tasks.put(n);
for (const _ of consumers) await tasks.put(null);
await tasks.join({ timeout: 10_000 });
while (!(await results.empty())) console.log(await results.get());
await Promise.all(consumers.map((c) => c.join()));
