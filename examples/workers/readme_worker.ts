/** The README example's worker: takes jobs until the queue stays empty, returns how many it did. */
import type { Dict, Lock, Queue } from "../../mod.ts";
import { QueueError } from "../../mod.ts";

export default async function (
  scores: Dict<string, number>,
  jobs: Queue<{ id: number }>,
  lock: Lock,
  i: number,
): Promise<number> {
  let n = 0;
  for (;;) {
    let job: { id: number };
    try {
      job = await jobs.get({ timeout: 500 });
    } catch (e) {
      if (e instanceof QueueError && e.reason === "Timeout") return n;
      throw e;
    }
    await lock.withLock(async () => {
      await scores.set(`w${i}`, ((await scores.get(`w${i}`)) ?? 0) + job.id);
    });
    n++;
  }
}
