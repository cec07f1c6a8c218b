/** examples/isolation.ts's worker: Python's `increment`, on this thread's own copy of `counter`. */

/** This module's counter: each thread or process that loads the module has its own. */
export let counter = 0;

/** Adds 100,000 to this copy of `counter`; returns it. */
export default function increment(): number {
  for (let i = 0; i < 100_000; i++) counter += 1;
  return counter;
}
