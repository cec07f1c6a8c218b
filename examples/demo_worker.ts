/**
 * The demo's worker: takes jobs from the queue until it gets `null`, squares
 * each, records the result in the dict and counts its own work under the lock.
 */
import type { Dict, Lock, Queue } from "../mod.ts";

export default async function (
  jobs: Queue<number | null>,
  results: Dict<string, number>,
  lock: Lock,
  name: string,
): Promise<number> {
  let done = 0;
  for (;;) {
    const n = await jobs.get({ timeout: 10_000 });
    if (n === null) return done;
    await results.set(`${n}^2`, n * n);
    await lock.withLock(async () => {
      await results.set(`by ${name}`, ((await results.get(`by ${name}`)) ?? 0) + 1);
    });
    done++;
  }
}
