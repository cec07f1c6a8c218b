/** Section C, in a child process: `value.add(1)`, one call at a time, with the other adder processes. */
import type { Barrier, Value } from "../../../mod.ts";
import type { BenchOptions } from "../_harness.ts";
import { type ProcResult, timeTogether } from "./_proc.ts";

export default async function procValueAdd(
  value: Value<"i">,
  o: BenchOptions,
  barrier: Barrier,
  done: Value<"i">,
  parties: number,
): Promise<ProcResult> {
  return await timeTogether(
    async (n) => {
      for (let j = 0; j < n; j++) await value.add(1);
      return n;
    },
    o,
    { barrier, done, parties },
  );
}
