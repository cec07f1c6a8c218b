/**
 * A long `pool.map` with a terminal progress bar: the primes below
 * 1,000,000, counted in 100 ranges by a pool of worker threads (one per
 * core). `onProgress` is called after each chunk with the items done and
 * the total; the bar goes to stderr, and only to a terminal.
 *
 * Python's Pool has no progress hook: the usual recipe is `imap` wrapped in
 * tqdm. Here `for await (const n of pool.imap(ranges))` works the same way.
 *
 * Run: `node --import tsx examples/pool_progress.ts`, `deno run -A examples/pool_progress.ts`,
 * `bun examples/pool_progress.ts`.
 * @module
 */
import { Pool, type PoolProgress } from "../mod.ts";
import type countPrimes from "./workers/pool_primes.ts";

const LIMIT = 1_000_000;
const RANGES = 100;
const step = LIMIT / RANGES;
const ranges = Array.from({ length: RANGES }, (_, i) => [i * step, (i + 1) * step] as const);

/** Draws `[#####.....]  50% 50/100` over itself. */
function bar({ done, total }: PoolProgress): void {
  if (!process.stderr.isTTY) return;
  const width = 30;
  const full = Math.round((done / total) * width);
  const percent = String(Math.round((done / total) * 100)).padStart(3);
  process.stderr.write(`\r[${"#".repeat(full)}${".".repeat(width - full)}] ${percent}% ${done}/${total}`);
  if (done === total) process.stderr.write("\n");
}

await using pool = await Pool.start<typeof countPrimes>(new URL("./workers/pool_primes.ts", import.meta.url));
const counts = await pool.map(ranges, { chunksize: 2, onProgress: bar });
console.log(`primes below ${LIMIT}: ${counts.reduce((a, b) => a + b, 0)}`);
