/**
 * Issue B3, procshare side, consumer: each round, after the start barrier,
 * `getSync`s items until the round's -1; its count and elapsed time give
 * the end-to-end rate (every item put was taken by then).
 */
import type { Queue } from "../../../mod.ts";
import { arrive, type RoundResult } from "../_harness.ts";

export default function consumer(queue: Queue<number>, ctl: Int32Array, rounds: number): RoundResult[] {
  const out: RoundResult[] = [];
  for (let round = 1; round <= rounds; round++) {
    arrive(ctl, round);
    const t0 = performance.now();
    let n = 0, expect = 0;
    for (;;) {
      const v = queue.getSync();
      if (v === -1) break;
      if (v !== expect++) throw new Error(`Queue out of order: expected ${expect - 1}, received ${v}`);
      n++;
    }
    out.push({ count: n, ms: performance.now() - t0 });
  }
  return out;
}
