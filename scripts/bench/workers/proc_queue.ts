/**
 * Section C, in a child process: one end of a queue stream between two
 * processes. The producer puts 0, 1, 2, … until it is terminated (the queue
 * is bounded, so it waits whenever it is ahead); the consumer times its gets
 * and checks that the items arrive in order, none lost. With `sync`, both
 * ends use the Sync twins (`putSync`, `getSync`: `shm:`), blocking on the
 * futex rather than awaiting.
 */
import type { Queue } from "../../../mod.ts";
import type { BenchOptions } from "../_harness.ts";
import { type ProcResult, timeTogether, timeTogetherSync } from "./_proc.ts";

export default async function procQueue(
  queue: Queue<number>,
  role: "producer" | "consumer",
  o: BenchOptions,
  sync = false,
): Promise<ProcResult | undefined> {
  if (role === "producer") {
    if (sync) { for (let k = 0;; k++) queue.putSync(k); }
    for (let k = 0;; k++) await queue.put(k);
  }
  let next = 0;
  const check = (k: number) => {
    if (k !== next) throw new Error(`Cannot stream items as the consumer expected ${next}: received ${k}`);
    next++;
  };
  if (sync) {
    return await timeTogetherSync((n) => {
      for (let j = 0; j < n; j++) check(queue.getSync());
      return n;
    }, o);
  }
  return await timeTogether(async (n) => {
    for (let j = 0; j < n; j++) check(await queue.get());
    return n;
  }, o);
}
