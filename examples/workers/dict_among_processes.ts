/** Worker of examples/dict_among_processes.ts: seed 000's `f(d)`, in a child process. */
import type { Dict } from "../../mod.ts";

export default async function f(d: Dict<number | string, number | string>): Promise<void> {
  // d[1] += '1'; d['2'] += 2 — each an atomic read-modify-write
  await d.compute(1, (s) => `${s}1`);
  await d.compute("2", (n) => Number(n) + 2);
  await d.set(process.pid, `Hi, I was written by process ${process.pid}`);
}
