/**
 * Issue B3, procshare side, producer: each round, after the start barrier,
 * `putSync`s 0, 1, 2, … until the main thread stops the round, then one -1
 * (end of round). Returns what it put per round.
 */
import type { Queue } from "../../../mod.ts";
import { arrive, type RoundResult, stopped } from "../_harness.ts";

export default function producer(queue: Queue<number>, ctl: Int32Array, rounds: number): RoundResult[] {
  const out: RoundResult[] = [];
  for (let round = 1; round <= rounds; round++) {
    arrive(ctl, round);
    const t0 = performance.now();
    let i = 0;
    while (!stopped(ctl, round)) {
      for (let j = 0; j < 256; j++) queue.putSync(i++);
    }
    queue.putSync(-1);
    out.push({ count: i, ms: performance.now() - t0 });
  }
  return out;
}
