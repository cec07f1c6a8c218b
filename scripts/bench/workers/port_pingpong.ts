/**
 * Issue B5, baseline: two workers bounce a number over a MessagePort pair
 * until the round is stopped; the initiator counts the round trips (each
 * two hand-offs, one per direction).
 */
import type { MessagePort } from "node:worker_threads";
import { arriveAsync, type RoundResult, stopped } from "../_harness.ts";

export default async function pingpong(
  port: MessagePort,
  ctl: Int32Array,
  initiator: boolean,
  rounds: number,
): Promise<RoundResult[]> {
  const out: RoundResult[] = [];
  let round = 0, trips = 0;
  let endRound: () => void = () => {};
  port.on("message", (v: number) => {
    if (!initiator) {
      if (v === -1) endRound();
      else port.postMessage(v + 1);
      return;
    }
    trips++;
    if (stopped(ctl, round)) {
      port.postMessage(-1);
      endRound();
    } else port.postMessage(v + 1);
  });
  for (round = 1; round <= rounds; round++) {
    const ended = new Promise<void>((resolve) => (endRound = resolve));
    trips = 0;
    await arriveAsync(ctl, round);
    const t0 = performance.now();
    if (initiator) port.postMessage(0);
    await ended;
    out.push({ count: 2 * trips, ms: performance.now() - t0 });
  }
  port.close();
  return out;
}
