/** examples/queue_basic.ts's worker: Python's `producer`, `consumer` and `worker`, chosen by name. */
import type { Queue } from "../../mod.ts";

/** Puts each item, printing it, then the sentinel `null`. */
export async function producer(q: Queue<number | null>, items: number[]): Promise<void> {
  for (const item of items) {
    await q.put(item);
    console.log(`Produced: ${item}`);
  }
  await q.put(null); // Sentinel
}

/** Gets and prints items until the sentinel. */
export async function consumer(q: Queue<number | null>): Promise<void> {
  for (;;) {
    const item = await q.get();
    if (item === null) break;
    console.log(`Consumed: ${item}`);
  }
}

/** Puts `[taskId, taskId ** 2]`. */
export async function worker(taskId: number, q: Queue<[number, number]>): Promise<void> {
  await q.put([taskId, taskId ** 2]);
}

/** Runs the target named `name` with the rest of the arguments. */
export default async function (name: "producer" | "consumer" | "worker", ...args: unknown[]): Promise<void> {
  if (name === "producer") await producer(args[0] as Queue<number | null>, args[1] as number[]);
  else if (name === "consumer") await consumer(args[0] as Queue<number | null>);
  else await worker(args[0] as number, args[1] as Queue<[number, number]>);
}
