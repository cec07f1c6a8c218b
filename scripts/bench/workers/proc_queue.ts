/**
 * Section C, in a child process: one end of a queue stream between two
 * processes. The producer puts 0, 1, 2, … until it is terminated (the queue
 * is bounded, so it waits whenever it is ahead); the consumer times its gets
 * and checks that the items arrive in order, none lost.
 */
import type { Queue } from "../../../mod.ts";
import type { BenchOptions } from "../_harness.ts";
import { type ProcResult, timeTogether } from "./_proc.ts";

export default async function procQueue(
  queue: Queue<number>,
  role: "producer" | "consumer",
  o: BenchOptions,
): Promise<ProcResult | undefined> {
  if (role === "producer") {
    for (let k = 0;; k++) await queue.put(k);
  }
  let next = 0;
  return await timeTogether(async (n) => {
    for (let j = 0; j < n; j++) {
      const k = await queue.get();
      if (k !== next) throw new Error(`Cannot stream items as the consumer expected ${next}: received ${k}`);
      next++;
    }
    return n;
  }, o);
}
