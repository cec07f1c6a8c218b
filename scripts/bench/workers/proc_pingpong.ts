/**
 * Section C, in a child process: one side of a ping-pong between two
 * processes through two semaphores that start at 0. The echoing side takes
 * `ping` and gives `pong` until it is terminated; the timing side gives
 * `ping` and takes `pong`, so each of its operations is two hand-offs. With
 * `sync`, both sides use `acquireSync`/`releaseSync` (`shm:`: a futex wait
 * and wake per hand-off).
 */
import type { Semaphore } from "../../../mod.ts";
import type { BenchOptions } from "../_harness.ts";
import { type ProcResult, timeTogether, timeTogetherSync } from "./_proc.ts";

export default async function procPingPong(
  ping: Semaphore,
  pong: Semaphore,
  role: "echo" | "timer",
  o: BenchOptions,
  sync = false,
): Promise<ProcResult | undefined> {
  if (role === "echo") {
    if (sync) {
      for (;;) {
        ping.acquireSync();
        pong.releaseSync();
      }
    }
    for (;;) {
      await ping.acquire();
      await pong.release();
    }
  }
  if (sync) {
    return await timeTogetherSync((n) => {
      for (let j = 0; j < n; j++) {
        ping.releaseSync();
        pong.acquireSync();
      }
      return n;
    }, o);
  }
  return await timeTogether(async (n) => {
    for (let j = 0; j < n; j++) {
      await ping.release();
      await pong.acquire();
    }
    return n;
  }, o);
}
