/**
 * Port of seed 001's "Queue for Communication" programs: a producer and a
 * consumer with a `None` sentinel, then five processes putting
 * `(task_id, task_id ** 2)` on a result queue that the parent drains:
 *
 * ```py
 * def producer(q, items):
 *     for item in items: q.put(item); print(f"Produced: {item}")
 *     q.put(None)  # Sentinel
 * def consumer(q):
 *     while True:
 *         item = q.get()
 *         if item is None: break
 *         print(f"Consumed: {item}")
 * q = Queue()
 * p1 = Process(target=producer, args=(q, [1, 2, 3, 4, 5])); p2 = Process(target=consumer, args=(q,))
 * p1.start(); p2.start(); p1.join(); p2.join()
 *
 * def worker(task_id, q): q.put((task_id, task_id ** 2))
 * (5 processes; start all, join all)
 * results = {}
 * while not result_queue.empty():
 *     task_id, result = result_queue.get(); results[task_id] = result
 * print(results)   # {0: 0, 1: 1, 2: 4, 3: 9, 4: 16}
 * ```
 *
 * The workers are threads. Prints `Produced: 1` … `Produced: 5` and
 * `Consumed: 1` … `Consumed: 5` (each in order, the two interleaved), then
 * the results dict, its entries in the order they were put (as Python's).
 *
 * Run: `node --import tsx examples/queue_basic.ts`, `deno run -A examples/queue_basic.ts`, `bun examples/queue_basic.ts`.
 * @module
 */
import { Manager, spawn } from "../mod.ts";
import { repr } from "./_py.ts";

const WORKER = new URL("./workers/queue_basic.ts", import.meta.url);
await using m = await Manager.start();

{ // Basic Queue
  const q = await m.queue<number | null>();
  const p1 = spawn(WORKER, { args: ["producer", q, [1, 2, 3, 4, 5]] });
  const p2 = spawn(WORKER, { args: ["consumer", q] });
  await p1.join();
  await p2.join();
}
{ // Collecting Results with Queue
  const resultQueue = await m.queue<[number, number]>();
  const processes = [];
  for (let i = 0; i < 5; i++) processes.push(spawn(WORKER, { args: ["worker", i, resultQueue] }));
  for (const p of processes) await p.join();
  // Collect results
  const results = new Map<number, number>();
  while (!(await resultQueue.empty())) {
    const [taskId, result] = await resultQueue.get();
    results.set(taskId, result);
  }
  console.log(repr(results)); // {0: 0, 1: 1, 2: 4, 3: 9, 4: 16}
}
