/**
 * Worker: waits for `readers` readers (word 0 of `flags`), then appends the
 * integers [0, n) one at a time with `appendSync` and sets word 1 of `flags`.
 */
import type { List } from "../../../structures/list.ts";

export default function (list: List<number>, n: number, flags: SharedArrayBuffer, readers: number): number {
  const f = new Int32Array(flags);
  for (let v = Atomics.load(f, 0); v < readers; v = Atomics.load(f, 0)) Atomics.wait(f, 0, v, 100);
  for (let i = 0; i < n; i++) list.appendSync(i);
  Atomics.store(f, 1, 1);
  Atomics.notify(f, 1);
  return n;
}
