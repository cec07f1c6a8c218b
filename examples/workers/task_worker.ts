/** Worker of examples/joinable_queue.ts: doubles numbers until it gets null. */
import type { JoinableQueue, Queue } from "../../mod.ts";

export default async function (
  tasks: JoinableQueue<number | null>,
  results: Queue<string>,
  name: string,
): Promise<void> {
  for (;;) {
    const n = await tasks.get();
    if (n === null) {
      await tasks.taskDone();
      return;
    }
    await results.put(`${name}: ${n} * 2 = ${n * 2}`);
    await tasks.taskDone();
  }
}
