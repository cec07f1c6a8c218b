/**
 * Section C, in a child process: one side of a ping-pong between two
 * processes through two semaphores that start at 0. The echoing side takes
 * `ping` and gives `pong` until it is terminated; the timing side gives
 * `ping` and takes `pong`, so each of its operations is two hand-offs.
 */
import type { Semaphore } from "../../../mod.ts";
import type { BenchOptions } from "../_harness.ts";
import { type ProcResult, timeTogether } from "./_proc.ts";

export default async function procPingPong(
  ping: Semaphore,
  pong: Semaphore,
  role: "echo" | "timer",
  o: BenchOptions,
): Promise<ProcResult | undefined> {
  if (role === "echo") {
    for (;;) {
      await ping.acquire();
      await pong.release();
    }
  }
  return await timeTogether(async (n) => {
    for (let j = 0; j < n; j++) {
      await ping.release();
      await pong.acquire();
    }
    return n;
  }, o);
}
