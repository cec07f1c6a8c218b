/**
 * `Pool.map` throughput beside Python's `multiprocessing.Pool.map`, measured
 * in the same run (issue 10, item 1): 100,000 trivial tasks (`x * x`),
 * `chunksize` 1,000, 2 workers. The figure is the median wall time of one
 * `map` over a warm pool (workers started and loaded before the clock), for
 * procshare's thread and process pools and for CPython's process pool; the
 * ratio is Python's time over ours (the target: ≥ 3×).
 *
 * Usage: `node --import tsx scripts/bench/pool.ts [--reps n] [--items n] [--chunksize n] [--workers n]`,
 * `deno run -A scripts/bench/pool.ts`, `bun scripts/bench/pool.ts`. Python 3 must be on the PATH
 * (`--no-python` skips it).
 * @module
 */
import { execFile } from "node:child_process";
import * as os from "node:os";
import process from "node:process";
import { Pool } from "../../mod.ts";
import { runtime, runtimeVersion } from "../../transports/_runtime/runtime.ts";
import { median } from "./_harness.ts";
import type square from "./workers/pool_square.ts";

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const REPS = flag("reps", 7);
const ITEMS = flag("items", 100_000);
const CHUNKSIZE = flag("chunksize", 1_000);
const WORKERS = flag("workers", 2);
const PYTHON = !process.argv.includes("--no-python");

/** Median milliseconds of one `map` over a warm pool, after one warm-up map. */
async function ours(as: "thread" | "process"): Promise<number[]> {
  await using pool = await Pool.start<typeof square>(new URL("./workers/pool_square.ts", import.meta.url), {
    size: WORKERS,
    as,
  });
  const items = Array.from({ length: ITEMS }, (_, i) => i);
  const times: number[] = [];
  for (let r = -1; r < REPS; r++) {
    const t = performance.now();
    const out = await pool.map(items, { chunksize: CHUNKSIZE });
    const ms = performance.now() - t;
    if (out[ITEMS - 1] !== (ITEMS - 1) ** 2) throw new Error("wrong result");
    if (r >= 0) times.push(ms);
  }
  return times;
}

const PY = `
import multiprocessing as mp, sys, time
def f(x):
    return x * x
if __name__ == "__main__":
    reps, items, chunksize, workers = map(int, sys.argv[1:5])
    data = list(range(items))
    with mp.Pool(workers) as pool:
        pool.map(f, data, chunksize=chunksize)
        for _ in range(reps):
            t = time.perf_counter()
            out = pool.map(f, data, chunksize=chunksize)
            print((time.perf_counter() - t) * 1000)
            assert out[-1] == (items - 1) ** 2
`;

function python(): Promise<number[]> {
  return new Promise((resolve, reject) =>
    execFile(
      "python3",
      ["-c", PY, String(REPS), String(ITEMS), String(CHUNKSIZE), String(WORKERS)],
      (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout.trim().split("\n").map(Number)),
    )
  );
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
const rate = (ms: number) => `${((ITEMS / ms) * 1000 / 1e6).toFixed(2)} M items/s`;

console.log(
  `pool.map: ${ITEMS} items of x * x, chunksize ${CHUNKSIZE}, ${WORKERS} workers; median of ${REPS} maps over a warm pool`,
);
console.log(`${runtime} ${runtimeVersion()}, ${os.availableParallelism()} cores, load ${os.loadavg()[0].toFixed(2)}`);
const py = PYTHON ? median(await python()) : undefined;
if (py !== undefined) console.log(`  Python multiprocessing.Pool.map  ${fmt(py).padStart(10)}  ${rate(py)}`);
for (const as of ["thread", "process"] as const) {
  const ms = median(await ours(as));
  const ratio = py !== undefined
    ? `  ${(py / ms).toFixed(2)}× Python (target ≥ 3×: ${py / ms >= 3 ? "met" : "not met"})`
    : "";
  console.log(`  procshare Pool as ${as.padEnd(7)}         ${fmt(ms).padStart(10)}  ${rate(ms)}${ratio}`);
}
