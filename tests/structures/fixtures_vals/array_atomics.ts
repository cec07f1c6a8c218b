/**
 * Worker: adds 1 to every element of `counts` `rounds` times, and claims free
 * elements of `owners` with compareExchange(0 → me); returns the claimed indices.
 */
import type { RawArray, SharedArray } from "../../../structures/array.ts";

export default function (counts: SharedArray<"i32">, owners: RawArray<"u16">, rounds: number, me: number): number[] {
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < counts.length; i++) counts.addSync(i, 1);
  }
  const mine: number[] = [];
  for (let i = 0; i < owners.length; i++) {
    if (owners.compareExchangeSync(i, 0, me) === 0) mine.push(i);
  }
  return mine;
}
