/**
 * Worker: alternates item 0 of a list between two strings of different
 * lengths `n` times, then stores 1 in word 0 of `done`.
 */
import type { ShareableList } from "../../../structures/shareable_list.ts";

export default function (sl: ShareableList, a: string, b: string, n: number, done: SharedArrayBuffer): number {
  for (let i = 0; i < n; i++) sl.setSync(0, i % 2 === 0 ? a : b);
  Atomics.store(new Int32Array(done), 0, 1);
  return n;
}
