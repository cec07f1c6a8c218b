/**
 * Issue B3, baseline, producer: the same stream as queue_producer.ts over a
 * MessagePort whose other end is in the consumer worker: `postMessage`s
 * 0, 1, 2, … until the round is stopped, then -1.
 */
import type { MessagePort } from "node:worker_threads";
import { arrive, type RoundResult, stopped } from "../_harness.ts";

export default function producer(port: MessagePort, ctl: Int32Array, rounds: number): RoundResult[] {
  const out: RoundResult[] = [];
  for (let round = 1; round <= rounds; round++) {
    arrive(ctl, round);
    const t0 = performance.now();
    let i = 0;
    while (!stopped(ctl, round)) {
      for (let j = 0; j < 256; j++) port.postMessage(i++);
    }
    port.postMessage(-1);
    out.push({ count: i, ms: performance.now() - t0 });
  }
  port.close();
  return out;
}
