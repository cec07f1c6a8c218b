/**
 * `Pool.map` throughput beside its baselines, measured in the same run
 * (issue 10, item 1): 100,000 trivial tasks (`x * x`), `chunksize` 1,000, 2
 * workers. Each figure is the median wall time of one map over a warm pool
 * (workers started and loaded before the clock, five warm-up maps; the
 * cases timed in interleaved rounds), for
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
import { spawn } from "node:child_process";
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

/**
 * Warm-up rounds before the clock, for every case (Python's too): a fresh
 * worker's JIT needs a few maps (Bun's first maps of a process pool take
 * 50–120 ms, then ~12).
 */
const WARMUP = 5;

/** One contender: started once, then timed map by map. */
interface Case {
  /** Runs one map over `items` and returns the milliseconds it took (as the case measures it). */
  map(items: readonly number[]): Promise<number>;
  stop(): Promise<void>;
}

function clocked(map: (items: readonly number[]) => Promise<ArrayLike<number>>): Case["map"] {
  return async (items) => {
    const t = performance.now();
    const out = await map(items);
    const ms = performance.now() - t;
    check(out, items.length);
    return ms;
  };
}

async function ours(o: PoolBenchOptions, as: "thread" | "process"): Promise<Case> {
  const pool = await Pool.start<typeof square>(new URL("./workers/pool_square.ts", import.meta.url), {
    size: o.workers,
    as,
  });
  return { map: clocked((items) => pool.map(items, { chunksize: o.chunksize })), stop: () => pool.terminate() };
}

/** piscina on `o.workers` threads: one `run()` per item, or (`chunked`) one per `o.chunksize` items. */
async function piscina(o: PoolBenchOptions, chunked: boolean): Promise<Case | string> {
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
    // the whole map is queued at once
    maxQueue: Infinity,
  });
  const map = chunked
    ? async (items: readonly number[]) => {
      const parts: Promise<number[]>[] = [];
      for (let f = 0; f < items.length; f += o.chunksize) {
        parts.push(pool.run(items.slice(f, f + o.chunksize), { name: "chunk" }));
      }
      return (await Promise.all(parts)).flat();
    }
    : (items: readonly number[]) => Promise.all(items.map((x) => pool.run(x) as Promise<number>));
  return { map: clocked(map), stop: () => pool.destroy() };
}

/** A CPython process holding a warm `multiprocessing.Pool`: each line it reads runs one map, timed there. */
const PY = `
import multiprocessing as mp, sys, time
def f(x):
    return x * x
if __name__ == "__main__":
    chunksize, workers = map(int, sys.argv[1:3])
    with mp.Pool(workers) as pool:
        print("ready", flush=True)
        for line in sys.stdin:
            data = list(range(int(line)))
            t = time.perf_counter()
            out = pool.map(f, data, chunksize=chunksize)
            ms = (time.perf_counter() - t) * 1000
            assert len(out) == len(data) and (not data or out[-1] == data[-1] ** 2)
            print(ms, flush=True)
`;

async function python(o: PoolBenchOptions): Promise<Case | string> {
  if (!o.python) return "skipped: --no-python";
  const child = spawn("python3", ["-c", PY, String(o.chunksize), String(o.workers)], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (b: Uint8Array) => (stderr += new TextDecoder().decode(b)));
  let buffered = "";
  const waiting: Array<(line: string | undefined) => void> = [];
  const lines: string[] = [];
  child.stdout!.on("data", (b: Uint8Array) => {
    buffered += new TextDecoder().decode(b);
    let i: number;
    while ((i = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      const w = waiting.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const gone = new Promise<void>((resolve) => child.once("close", () => resolve()));
  child.once("error", () => {});
  void gone.then(() => {
    for (const w of waiting.splice(0)) w(undefined);
  });
  const next = (): Promise<string | undefined> =>
    lines.length > 0 ? Promise.resolve(lines.shift()) : new Promise((resolve) => waiting.push(resolve));
  const fail = () => `python3 failed: ${stderr.trim().split("\n").pop() ?? "no output"}`;
  if ((await next()) !== "ready") return `skipped: ${fail()}`;
  return {
    map: async (items) => {
      child.stdin!.write(`${items.length}\n`);
      const line = await next();
      if (line === undefined) throw new Error(fail());
      return Number(line);
    },
    stop: async () => {
      child.stdin!.end();
      await gone;
    },
  };
}

/**
 * Every case, started together then timed in rounds: each round runs one
 * map of each case, one after the other (never two at once: they would
 * share the cores), so that a change in the machine's load touches every
 * case alike. piscina's run() per item, ~100× slower, is timed once, last.
 */
export async function poolFigures(o: PoolBenchOptions): Promise<PoolFigures> {
  const items = Array.from({ length: o.items }, (_, i) => i);
  const names = ["python", "piscinaChunked", "thread", "process"] as const;
  const cases: Record<string, Case | string> = {
    python: await python(o),
    piscinaChunked: await piscina(o, true),
    thread: await ours(o, "thread"),
    process: await ours(o, "process"),
  };
  const times: Record<string, number[]> = {};
  try {
    for (let r = -WARMUP; r < o.reps; r++) {
      for (const name of names) {
        const c = cases[name];
        if (typeof c === "string") continue;
        const ms = await c.map(items);
        if (r >= 0) (times[name] ??= []).push(ms);
      }
    }
  } finally {
    for (const c of Object.values(cases)) if (typeof c !== "string") await c.stop();
  }
  let perItem: number[] | string;
  const c = await piscina(o, false);
  if (typeof c === "string") perItem = c;
  else {
    try {
      // a warm-up of a few thousand items, then one timed map
      for (let w = 0; w < WARMUP; w++) await c.map(items.slice(0, 4 * o.chunksize));
      perItem = [await c.map(items)];
    } finally {
      await c.stop();
    }
  }
  const pick = (name: string) => typeof cases[name] === "string" ? cases[name] as string : times[name];
  return {
    python: pick("python"),
    piscina: perItem,
    piscinaChunked: pick("piscinaChunked"),
    thread: times.thread,
    process: times.process,
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
