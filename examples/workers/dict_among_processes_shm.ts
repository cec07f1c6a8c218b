/**
 * Worker of examples/dict_among_processes_shm.ts, in a child process: seed
 * 000's `f(d)` with the Sync twins, then `gets` reads of `table`'s keys
 * round-robin from `first`, once all the processes are at `start`; returns
 * its gets per second.
 */
import type { Barrier, Dict } from "../../mod.ts";

export default async function f(
  d: Dict<number | string, number | string>,
  table: Dict<string, string>,
  start: Barrier,
  keys: number,
  gets: number,
  first: number,
): Promise<number> {
  // d[1] += '1'; d['2'] += 2 — each an atomic read-modify-write
  d.computeSync(1, (s) => `${s}1`);
  d.computeSync("2", (n) => Number(n) + 2);
  d.setSync(process.pid, `Hi, I was written by process ${process.pid}`);

  const names = Array.from({ length: keys }, (_, i) => `key:${i}`);
  const values = names.map((_, i) => `value:${i}`);
  await start.wait();
  const t0 = performance.now();
  for (let j = 0, i = first; j < gets; j++, i = i + 1 === keys ? 0 : i + 1) {
    const v = table.getSync(names[i]);
    if (v !== values[i]) {
      throw new Error(`Cannot read the table as ${names[i]} holds a wrong value: received ${v}`);
    }
  }
  return gets / ((performance.now() - t0) / 1000);
}
