/**
 * Section C's client side, shared by its child processes.
 *
 * Alone, a process times its operation with the harness (`timeAsync`, as
 * sections A and B2 do; `timeSync` for a Sync twin). Together (several processes calling at once), the
 * median of a process's batch rates would leave out the time it waited for a
 * CPU, and with more processes than CPUs the sum of such rates would exceed
 * what the processes did. So processes that run together start at a Barrier,
 * run the same schedule by their own clocks (warm-up, then `reps` windows of
 * `budgetMs`), each window's rate being operations ÷ its whole time, and,
 * once done, go on calling until all the others are done too (counted in a
 * `done` Value), so nobody's window has fewer competitors than the case
 * says. The barrier and the counter are structures of the case's manager,
 * as everything else (over its socket on `unix:`, in its shared memory on
 * `shm:`).
 * @module
 */
import type { Barrier, Value } from "../../../mod.ts";
import { type BenchOptions, consume, type Sample, sampleOf, timeAsync, timeSync } from "../_harness.ts";

/** What one process of a case measured, and how many operations it performed in all. */
export interface ProcResult {
  readonly sample: Sample;
  readonly ops: number;
}

/** The processes of one case that run together. */
export interface Together {
  readonly barrier: Barrier;
  readonly done: Value<"i">;
  readonly parties: number;
}

/** Target length of a batch between two reads of the clock, in ms. */
const BATCH_MS = 0.5;

/**
 * Times `run` (it awaits the operation `n` times and returns a number for the
 * sink) in this process: alone with the harness, or `together` with the
 * other processes of the case (windows timed whole).
 */
export async function timeTogether(
  run: (n: number) => Promise<number>,
  o: BenchOptions,
  together?: Together,
): Promise<ProcResult> {
  const ops = { n: 0 };
  const counted = async (n: number) => {
    ops.n += n;
    return await run(n);
  };
  if (!together) return { sample: await timeAsync(counted, o), ops: ops.n };
  return { sample: await windows(counted, o, together), ops: ops.n };
}

/**
 * The synchronous twin of {@linkcode timeTogether}: `run` performs a Sync
 * twin (`getSync`, `addSync`, …) `n` times. Alone it is timed as B2 and B4
 * time theirs (`timeSync`); together, the barrier and the `done` counter are
 * still awaited between windows.
 */
export async function timeTogetherSync(
  run: (n: number) => number,
  o: BenchOptions,
  together?: Together,
): Promise<ProcResult> {
  const ops = { n: 0 };
  const counted = (n: number) => {
    ops.n += n;
    return run(n);
  };
  if (!together) return { sample: timeSync(counted, o), ops: ops.n };
  return { sample: await windows(counted, o, together), ops: ops.n };
}

/** The schedule of processes that run together: barrier, warm-up, `reps` windows timed whole, then `done`. */
async function windows(
  counted: (n: number) => number | Promise<number>,
  o: BenchOptions,
  together: Together,
): Promise<Sample> {
  await together.barrier.wait();
  // warm-up, growing the batch until it lasts about BATCH_MS
  let batch = 1;
  const start = performance.now();
  for (let t = start; t - start < o.warmupMs;) {
    consume(await counted(batch));
    const now = performance.now();
    if (now - t < BATCH_MS && batch < 1 << 16) batch *= 2;
    t = now;
  }
  const samples: number[] = [];
  for (let r = 0; r < o.reps; r++) {
    const t0 = performance.now();
    let n = 0, t = t0;
    while (t - t0 < o.budgetMs) {
      consume(await counted(batch));
      n += batch;
      t = performance.now();
    }
    samples.push((n * 1000) / (t - t0));
  }
  await together.done.add(1);
  while ((await together.done.load()) < together.parties) consume(await counted(batch));
  return sampleOf(samples);
}
