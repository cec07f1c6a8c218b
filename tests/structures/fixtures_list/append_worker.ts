/**
 * Worker: waits until `parties` workers are ready (an Atomics gate in word 0
 * of `gate`), then appends `"<w>:<i>"` for i in [0, n) one call at a time.
 */
import type { List } from "../../../structures/list.ts";

export default async function (
  list: List<string>,
  w: number,
  n: number,
  gate: SharedArrayBuffer,
  parties: number,
): Promise<number> {
  const g = new Int32Array(gate);
  Atomics.add(g, 0, 1);
  Atomics.notify(g, 0);
  for (let v = Atomics.load(g, 0); v < parties; v = Atomics.load(g, 0)) Atomics.wait(g, 0, v, 100);
  for (let i = 0; i < n; i++) await list.append(`${w}:${i}`);
  return n;
}
