/** Child process of examples/custom_types.ts: `n` increments of the Counter proxy it was given. */
import type { Custom } from "../../mod.ts";
import type Counter from "./counter.ts";

export default async function countTo(counter: Custom<Counter>, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await counter.increment();
}
