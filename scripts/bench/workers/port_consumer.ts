/**
 * Issue B3, baseline, consumer: receives the stream of port_producer.ts
 * until the round's -1; its count and elapsed time give the end-to-end rate.
 */
import type { MessagePort } from "node:worker_threads";
import { arriveAsync, type RoundResult } from "../_harness.ts";

export default async function consumer(port: MessagePort, ctl: Int32Array, rounds: number): Promise<RoundResult[]> {
  const out: RoundResult[] = [];
  let n = 0, expect = 0;
  let endRound: () => void = () => {};
  port.on("message", (v: number) => {
    if (v === -1) return endRound();
    if (v !== expect++) throw new Error(`Port out of order: expected ${expect - 1}, received ${v}`);
    n++;
  });
  for (let round = 1; round <= rounds; round++) {
    const ended = new Promise<void>((resolve) => (endRound = resolve));
    n = 0;
    expect = 0;
    await arriveAsync(ctl, round);
    const t0 = performance.now();
    await ended;
    out.push({ count: n, ms: performance.now() - t0 });
  }
  port.close();
  return out;
}
