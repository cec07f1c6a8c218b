/** examples/progress_monitor.ts's worker: Python's `data_processor` and `monitor_progress`, chosen by name. */
import { setTimeout as sleep } from "node:timers/promises";
import type { Dict, List, Lock } from "../../mod.ts";

/** The shared data: Python's dict of a list, two dicts and a lock, as a plain object of the structures. */
export interface SharedData {
  readonly items: List<unknown>;
  readonly stats: Dict<string, number>;
  readonly processors: Dict<number, boolean>;
  readonly statsLock: Lock;
}

/** Adds three items, then counts them and marks this processor active, under the lock. */
export async function dataProcessor(sharedData: SharedData, processorId: number): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await sharedData.items.append({
      processor_id: processorId,
      item_number: i,
      processed_at: Date.now() / 1000,
      data: `Processed by ${processorId}`,
    });
  }
  await sharedData.statsLock.withLock(async () => {
    await sharedData.stats.set("total_processed", (await sharedData.stats.get("total_processed"))! + 3);
    await sharedData.processors.set(processorId, true);
  });
}

/** Every half second, prints the count and the active processors, until all nine items are in. */
export async function monitorProgress(sharedData: SharedData): Promise<void> {
  const startTime = performance.now();
  for (;;) {
    await sleep(500);
    const [total, activeProcessors] = await sharedData.statsLock.withLock(async () => [
      (await sharedData.stats.get("total_processed"))!,
      (await sharedData.processors.values()).filter(Boolean).length,
    ]);
    const elapsed = (performance.now() - startTime) / 1000;
    console.log(`Time: ${elapsed.toFixed(1)}s, Processed: ${total}, Active: ${activeProcessors}`);
    if (total >= 9) break; // 3 processors * 3 items each
  }
}

/** Runs the target named `name`. */
export default async function (name: "dataProcessor" | "monitorProgress", sharedData: SharedData, id: number) {
  if (name === "dataProcessor") await dataProcessor(sharedData, id);
  else await monitorProgress(sharedData);
}
