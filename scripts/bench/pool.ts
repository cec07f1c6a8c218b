/**
 * `Pool.map` throughput beside its baselines, measured in the same run
 * (issue 10, item 1): 100,000 trivial tasks (`x * x`), `chunksize` 1,000, 2
 * workers. Each figure is the median wall time of one map over a warm pool
 * (workers started and loaded before the clock, three warm-up maps), for
 * procshare's thread and process pools, CPython's
 * `multiprocessing.Pool.map`, and piscina on 2 threads — used as piscina is
 * meant to be (one `run()` per item; it has no chunking) and chunked by
 * hand (one `run()` per 1,000 items, the task mapping its chunk). Targets:
 * ≥ 3× Python; as "thread" ≥ piscina.
 *
 * Section E of `npm run bench` ({@linkcode sectionE}); alone:
 * `node --import tsx scripts/bench/pool.ts [--reps n] [--items n] [--chunksize n] [--workers n] [--no-python]`,
 * `deno run -A scripts/bench/pool.ts`, `bun scripts/bench/pool.ts`.
 * @module
 */
import { execFile } from "node:child_process";
import * as os from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Pool } from "../../mod.ts";
import { runtime, runtimeVersion } from "../../transports/_runtime/runtime.ts";
import { median } from "./_harness.ts";
import type { ProcessOutput } from "./processes.ts";
import type square from "./workers/pool_square.ts";

/** What one run measures. */
export interface PoolBenchOptions {
  /** Timed maps per case (after one warm-up). */
  readonly reps: number;
  readonly items: number;
  readonly chunksize: number;
  readonly workers: number;
  readonly python: boolean;
}

/** Milliseconds of each timed map, per case; a string says why a case did not run. */
export interface PoolFigures {
  readonly python: number[] | string;
  readonly piscina: number[] | string;
  readonly piscinaChunked: number[] | string;
  readonly thread: number[];
  readonly process: number[];
}

function check(out: ArrayLike<number>, items: number): void {
  if (out.length !== items || out[items - 1] !== (items - 1) ** 2) throw new Error("wrong result");
}

/** Warm-up maps before the clock, for every case (Python's too): the JIT of a fresh worker needs a few. */
const WARMUP = 3;

/** Times `reps` maps after {@linkcode WARMUP} maps (of `warmItems` items when given: piscina's run() per item is slow). */
async function timed(
  o: PoolBenchOptions,
  map: (items: readonly number[]) => Promise<ArrayLike<number>>,
  reps = o.reps,
  warmItems = o.items,
): Promise<number[]> {
  const items = Array.from({ length: o.items }, (_, i) => i);
  for (let w = 0; w < WARMUP; w++) check(await map(items.slice(0, warmItems)), warmItems);
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    const out = await map(items);
    times.push(performance.now() - t);
    check(out, o.items);
  }
  return times;
}

async function ours(o: PoolBenchOptions, as: "thread" | "process"): Promise<number[]> {
  await using pool = await Pool.start<typeof square>(new URL("./workers/pool_square.ts", import.meta.url), {
    size: o.workers,
    as,
  });
  return await timed(o, (items) => pool.map(items, { chunksize: o.chunksize }));
}

/** piscina on `o.workers` threads: one `run()` per item, or (`chunked`) one per `o.chunksize` items. */
async function piscina(o: PoolBenchOptions, chunked: boolean): Promise<number[] | string> {
  let Piscina: typeof import("piscina").Piscina;
  try {
    Piscina = (await import("piscina")).Piscina;
  } catch (e) {
    return `skipped: piscina cannot load: ${(e as Error).message}`;
  }
  const pool = new Piscina({
    filename: fileURLToPath(new URL("./workers/pool_square_piscina.ts", import.meta.url)),
    minThreads: o.workers,
    maxThreads: o.workers,
    // piscina's default queue is bounded by the thread count on some versions: the whole map is queued at once
    maxQueue: Infinity,
  });
  try {
    if (!chunked) {
      // ~100× slower than a chunked map: one timed map, after a warm-up of a few thousand items
      return await timed(
        o,
        (items) => Promise.all(items.map((x) => pool.run(x) as Promise<number>)),
        1,
        Math.min(o.items, 4 * o.chunksize),
      );
    }
    return await timed(o, async (items) => {
      const parts: Promise<number[]>[] = [];
      for (let f = 0; f < items.length; f += o.chunksize) {
        parts.push(pool.run(items.slice(f, f + o.chunksize), { name: "chunk" }));
      }
      return (await Promise.all(parts)).flat();
    });
  } catch (e) {
    return `skipped: piscina failed: ${(e as Error).message}`;
  } finally {
    await pool.destroy();
  }
}

const PY = `
import multiprocessing as mp, sys, time
def f(x):
    return x * x
if __name__ == "__main__":
    reps, items, chunksize, workers, warmup = map(int, sys.argv[1:6])
    data = list(range(items))
    with mp.Pool(workers) as pool:
        for _ in range(warmup):
            pool.map(f, data, chunksize=chunksize)
        for _ in range(reps):
            t = time.perf_counter()
            out = pool.map(f, data, chunksize=chunksize)
            print((time.perf_counter() - t) * 1000)
            assert out[-1] == (items - 1) ** 2
`;

function python(o: PoolBenchOptions): Promise<number[] | string> {
  if (!o.python) return Promise.resolve("skipped: --no-python");
  return new Promise((resolve) =>
    execFile(
      "python3",
      ["-c", PY, String(o.reps), String(o.items), String(o.chunksize), String(o.workers), String(WARMUP)],
      { timeout: 120_000 },
      (err, stdout, stderr) => {
        if (err) return resolve(`skipped: python3 failed: ${String(stderr || err.message).trim().split("\n").pop()}`);
        resolve(stdout.trim().split("\n").map(Number));
      },
    )
  );
}

/** Every case, one after the other (never two at once: they would share the cores). */
export async function poolFigures(o: PoolBenchOptions): Promise<PoolFigures> {
  return {
    python: await python(o),
    piscina: await piscina(o, false),
    piscinaChunked: await piscina(o, true),
    thread: await ours(o, "thread"),
    process: await ours(o, "process"),
  };
}

/** Section E of `npm run bench`: rows in items/s, ratios ours ÷ baseline. */
export async function sectionE(reps: number, withPython: boolean, out: ProcessOutput): Promise<void> {
  const o: PoolBenchOptions = { reps, items: 100_000, chunksize: 1_000, workers: 2, python: withPython };
  const f = await poolFigures(o);
  const rate = (ms: readonly number[]) => ms.map((t) => (o.items * 1000) / t);
  const baselines: Array<[string, number[] | string, string | undefined]> = [
    ["Python Pool.map", f.python, "≥ 3×"],
    ["piscina, run() per item", f.piscina, "≥ 1×"],
    ["piscina, run() per chunk", f.piscinaChunked, undefined],
  ];
  for (const [name, base, target] of baselines) {
    for (const as of ["thread", "process"] as const) {
      // the piscina targets are for threads
      if (name !== "Python Pool.map" && as === "process") continue;
      const ours = rate(f[as]);
      if (typeof base === "string") {
        out.row({ section: "E", name: `pool.map as ${as}`, figure: median(ours), unit: "items/s", samples: ours });
        out.note(`${name}: ${base}`);
        continue;
      }
      const theirs = rate(base);
      const ratio = median(ours) / median(theirs);
      out.row({
        section: "E",
        name: `pool.map as ${as}`,
        figure: median(ours),
        unit: "items/s",
        samples: ours,
        baseline: name,
        baselineFigure: median(theirs),
        baselineSamples: theirs,
        target,
        met: target === undefined ? undefined : ratio >= (target === "≥ 3×" ? 3 : 1),
      });
    }
  }
  out.note(
    `one map of ${o.items} items of x * x, chunksize ${o.chunksize}, ${o.workers} workers, warm pools; median of ${o.reps}`,
  );
}

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const o: PoolBenchOptions = {
    reps: flag("reps", 7),
    items: flag("items", 100_000),
    chunksize: flag("chunksize", 1_000),
    workers: flag("workers", 2),
    python: !process.argv.includes("--no-python"),
  };
  console.log(
    `pool.map: ${o.items} items of x * x, chunksize ${o.chunksize}, ${o.workers} workers; median of ${o.reps} maps over a warm pool`,
  );
  console.log(`${runtime} ${runtimeVersion()}, ${os.availableParallelism()} cores, load ${os.loadavg()[0].toFixed(2)}`);
  const f = await poolFigures(o);
  const line = (name: string, ms: number[] | string, vs?: number) => {
    if (typeof ms === "string") return console.log(`  ${name.padEnd(34)} ${ms}`);
    const m = median(ms);
    const ratio = vs === undefined ? "" : `  ours ${(m / vs).toFixed(2)}× faster`;
    console.log(
      `  ${name.padEnd(34)} ${`${m.toFixed(1)} ms`.padStart(10)}  ${
        ((o.items / m) * 1000 / 1e6).toFixed(2)
      } M items/s${ratio}`,
    );
  };
  line("Python multiprocessing.Pool.map", f.python);
  line("piscina, run() per item", f.piscina);
  line("piscina, run() per chunk", f.piscinaChunked);
  line("procshare Pool as thread", f.thread);
  line("procshare Pool as process", f.process);
  for (
    const [name, base] of [["Python", f.python], ["piscina per item", f.piscina], [
      "piscina chunked",
      f.piscinaChunked,
    ]] as const
  ) {
    if (typeof base === "string") continue;
    const b = median(base);
    console.log(
      `  vs ${name}: thread ${(b / median(f.thread)).toFixed(2)}×, process ${(b / median(f.process)).toFixed(2)}×`,
    );
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main();
