/**
 * Worker: after an Atomics gate (word 0 of `gate`, `parties` workers),
 * appends `"<w>:<i>"` for i in [0, n) and pops after every second append
 * (at the end, or at the front when i % 4 === 3); a pop that finds the list
 * empty is skipped. Returns what it popped.
 */
import type { List } from "../../../structures/list.ts";

export default async function (
  list: List<string>,
  w: number,
  n: number,
  gate: SharedArrayBuffer,
  parties: number,
): Promise<string[]> {
  const g = new Int32Array(gate);
  Atomics.add(g, 0, 1);
  Atomics.notify(g, 0);
  for (let v = Atomics.load(g, 0); v < parties; v = Atomics.load(g, 0)) Atomics.wait(g, 0, v, 100);
  const popped: string[] = [];
  for (let i = 0; i < n; i++) {
    await list.append(`${w}:${i}`);
    if (i % 2 === 1) {
      try {
        popped.push(await list.pop(i % 4 === 3 ? 0 : -1));
      } catch (e) {
        if (!(e instanceof RangeError)) throw e; // empty: another worker took the last one
      }
    }
  }
  return popped;
}
