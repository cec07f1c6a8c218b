/**
 * Section C, in a child process: `dict.get` of the dict's keys round-robin,
 * one call at a time, alone (dict get from another process) or with other
 * readers (seed 000: 4 reader processes).
 */
import type { Barrier, Dict, Value } from "../../../mod.ts";
import type { BenchOptions } from "../_harness.ts";
import { KEY_MASK, KEY_RING } from "./_keys.ts";
import { type ProcResult, timeTogether } from "./_proc.ts";

export default async function procDictGet(
  dict: Dict<string, string>,
  o: BenchOptions,
  start: number,
  barrier?: Barrier,
  done?: Value<"i">,
  parties = 1,
): Promise<ProcResult> {
  let i = start;
  return await timeTogether(
    async (n) => {
      let s = 0;
      for (let j = 0; j < n; j++) s += (await dict.get(KEY_RING[i++ & KEY_MASK]))?.length ?? 0;
      return s;
    },
    o,
    barrier && done ? { barrier, done, parties } : undefined,
  );
}
