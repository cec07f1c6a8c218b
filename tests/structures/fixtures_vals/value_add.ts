/**
 * Worker: `n` atomic adds to each of four values: 1 to an i32 and 3n to an
 * i64 (sync twins), 0.5 to an f64 (a compare-and-swap loop underneath), and
 * -1 to another i32 through the async form.
 */
import type { RawValue } from "../../../structures/value.ts";

export default async function (
  n: number,
  i32: RawValue<"i32">,
  i64: RawValue<"q">,
  f64: RawValue<"d">,
  down: RawValue<"i32">,
): Promise<number> {
  for (let i = 0; i < n; i++) {
    i32.addSync(1);
    i64.addSync(3n);
    f64.addSync(0.5);
    await down.add(-1);
  }
  return n;
}
