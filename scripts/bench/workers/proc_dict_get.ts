/**
 * Section C, in a child process: `dict.get` (or, with `sync`, `dict.getSync`)
 * of the dict's keys round-robin, one call at a time, alone (dict get from
 * another process) or with other readers (seed 000: 4 reader processes).
 * Spawned as a thread on a `shared-buffer:` manager, it is also the threads
 * baseline of the `shm:` getSync row.
 */
import type { Barrier, Dict, Value } from "../../../mod.ts";
import type { BenchOptions } from "../_harness.ts";
import { KEY_MASK, KEY_RING } from "./_keys.ts";
import { type ProcResult, timeTogether, timeTogetherSync, type Together } from "./_proc.ts";

export default async function procDictGet(
  dict: Dict<string, string>,
  o: BenchOptions,
  start: number,
  sync = false,
  barrier?: Barrier,
  done?: Value<"i">,
  parties = 1,
): Promise<ProcResult> {
  let i = start;
  const together: Together | undefined = barrier && done ? { barrier, done, parties } : undefined;
  if (sync) {
    return await timeTogetherSync(
      (n) => {
        let s = 0;
        for (let j = 0; j < n; j++) s += dict.getSync(KEY_RING[i++ & KEY_MASK])?.length ?? 0;
        return s;
      },
      o,
      together,
    );
  }
  return await timeTogether(
    async (n) => {
      let s = 0;
      for (let j = 0; j < n; j++) s += (await dict.get(KEY_RING[i++ & KEY_MASK]))?.length ?? 0;
      return s;
    },
    o,
    together,
  );
}
