/**
 * Section C, in a child process: `value.add(1)` (or, with `sync`,
 * `value.addSync(1)`), one call at a time, with the other adder processes.
 */
import type { Barrier, Value } from "../../../mod.ts";
import type { BenchOptions } from "../_harness.ts";
import { type ProcResult, timeTogether, timeTogetherSync } from "./_proc.ts";

export default async function procValueAdd(
  value: Value<"i">,
  o: BenchOptions,
  barrier: Barrier,
  done: Value<"i">,
  parties: number,
  sync = false,
): Promise<ProcResult> {
  const together = { barrier, done, parties };
  if (sync) {
    return await timeTogetherSync(
      (n) => {
        for (let j = 0; j < n; j++) value.addSync(1);
        return n;
      },
      o,
      together,
    );
  }
  return await timeTogether(
    async (n) => {
      for (let j = 0; j < n; j++) await value.add(1);
      return n;
    },
    o,
    together,
  );
}
