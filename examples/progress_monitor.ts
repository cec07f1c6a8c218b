/**
 * Port of seed 002's "complex shared data" example: three processors add
 * items to a shared list and update shared statistics under a lock, while a
 * monitor process polls the statistics every half second:
 *
 * ```py
 * def data_processor(shared_data, processor_id):
 *     for i in range(3):
 *         shared_data['items'].append({'processor_id': processor_id, 'item_number': i,
 *                                      'processed_at': time.time(), 'data': f"Processed by {processor_id}"})
 *     with shared_data['stats_lock']:
 *         shared_data['stats']['total_processed'] += 3
 *         shared_data['stats']['processors'][processor_id] = True
 * def monitor_progress(shared_data):
 *     while True:
 *         time.sleep(0.5)
 *         with shared_data['stats_lock']:
 *             total = …['total_processed']; active_processors = sum(…['processors'].values())
 *         print(f"Time: {elapsed:.1f}s, Processed: {total}, Active: {active_processors}")
 *         if total >= 9: break
 * shared_data = manager.dict({'items': manager.list(), 'stats': manager.dict({'total_processed': 0,
 *     'processors': manager.dict({0: False, 1: False, 2: False})}), 'stats_lock': manager.Lock()})
 * (3 processors and a monitor; join all)
 * print(f"\nFinal results:"); print(f"Total items processed: {len(shared_data['items'])}")
 * print(f"Statistics: {dict(shared_data['stats'])}")
 * ```
 *
 * Structures stored in a structure (the dict of a list, dicts and a lock)
 * are not yet supported (issue 10 item 8), so `sharedData` here is a plain
 * object of the four structures, passed to each worker as one argument (its
 * structures arrive attached). The workers are threads. Prints the
 * monitor's lines (their number varies), then `Final results:`,
 * `Total items processed: 9` and
 * `Statistics: {'total_processed': 9, 'processors': {0: True, 1: True, 2: True}}`.
 *
 * Run: `node --import tsx examples/progress_monitor.ts`, `deno run -A examples/progress_monitor.ts`, `bun examples/progress_monitor.ts`.
 * @module
 */
import { Manager, spawn } from "../mod.ts";
import { repr } from "./_py.ts";
import type { SharedData } from "./workers/progress_monitor.ts";

const WORKER = new URL("./workers/progress_monitor.ts", import.meta.url);
await using manager = await Manager.start();

const sharedData: SharedData = {
  items: await manager.list(),
  stats: await manager.dict<string, number>([["total_processed", 0]]),
  processors: await manager.dict<number, boolean>([[0, false], [1, false], [2, false]]),
  statsLock: await manager.lock(),
};

const processors = [];
for (let i = 0; i < 3; i++) processors.push(spawn(WORKER, { args: ["dataProcessor", sharedData, i] }));
const monitor = spawn(WORKER, { args: ["monitorProgress", sharedData, 0] });
for (const p of processors) await p.join();
await monitor.join();

console.log(`\nFinal results:`);
console.log(`Total items processed: ${await sharedData.items.length()}`);
const stats = new Map<unknown, unknown>(await sharedData.stats.entries());
stats.set("processors", new Map(await sharedData.processors.entries()));
console.log(`Statistics: ${repr(stats)}`);
