/** Worker of examples/pool_dict.ts: seed 000's `f(d)`, run by a process pool. */
import type { Dict } from "../../mod.ts";

export default async function f(d: Dict<number, string>): Promise<void> {
  const pid = process.pid;
  await d.set(pid, `Hi, I was written by process ${pid}`);
}
