/**
 * The benchmark's measuring tools, shared by the main script and its
 * workers: time-budgeted loops (warm-up, then `reps` repetitions, median),
 * the start barrier of multi-worker cases (a control block in a
 * SharedArrayBuffer, no sleeps), and number formatting.
 *
 * A case hands the harness a function that runs its operation `n` times and
 * returns something derived from the results (summed into a sink, so that
 * the work cannot be optimised away). Each case owns its inner loop, so the
 * call of the operation stays monomorphic; the harness only calls it in
 * batches of about a millisecond and reads the clock between batches. A
 * repetition's rate is the median of its batches' rates (see
 * `repetitionRate`); multi-worker rounds are timed whole, by the workers.
 * @module
 */
import { execFile } from "node:child_process";

/** How long and how often each case runs. */
export interface BenchOptions {
  /** Milliseconds of one measured repetition. */
  readonly budgetMs: number;
  /** Milliseconds of the warm-up run before the repetitions. */
  readonly warmupMs: number;
  /** Measured repetitions; the figure is their median. */
  readonly reps: number;
}

/** Repetitions of one case: per-repetition rates and their median. */
export interface Sample {
  /** Median of `samples`. */
  readonly median: number;
  /** One rate per measured repetition (events per second). */
  readonly samples: readonly number[];
}

/** The median of some numbers (the lower middle one for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1];
}

/** Builds a Sample from per-repetition rates. */
export function sampleOf(samples: readonly number[]): Sample {
  return { median: median(samples), samples };
}

let sink = 0;
/** Keeps results alive so that loops are not optimised away. */
export function consume(x: number): void {
  sink = (sink + (x | 0)) | 0;
}
/** The sink's value (printed nowhere; read to keep it observable). */
export function sinkValue(): number {
  return sink;
}

/** Target length of one batch between two reads of the clock. */
const BATCH_MS = 1;
/**
 * Operations a warm-up performs at least, whatever its time: a slow operation
 * (a socket round trip) runs its first few hundred calls in V8's lower tiers.
 */
const MIN_WARMUP_OPS = 2000;
/** The warm-up gives up on MIN_WARMUP_OPS after this many times its budget. */
const MAX_WARMUP_FACTOR = 10;
/** Timings of each batch size tried while calibrating (the fastest counts: a preempted one says nothing). */
const CALIBRATION_TRIES = 3;

/**
 * The rate of one repetition: the median of its batches' rates. A batch
 * lasts about a millisecond, so on a busy machine the batches during which
 * the thread lost its CPU are outliers, not half of the figure; on an idle
 * machine it equals operations ÷ elapsed time. (Sampling batches and taking
 * the median is what criterion and Google Benchmark do.)
 */
function repetitionRate(batchRates: number[]): number {
  return median(batchRates);
}

/** Grows `n` until one batch of `run(n)` lasts about BATCH_MS; returns n. */
function calibrate(run: (n: number) => number): number {
  let n = 1;
  for (;;) {
    let dt = Infinity;
    for (let k = 0; k < CALIBRATION_TRIES; k++) {
      const t0 = performance.now();
      consume(run(n));
      dt = Math.min(dt, performance.now() - t0);
    }
    if (dt >= BATCH_MS || n >= 1 << 24) return n;
    n *= dt < BATCH_MS / 8 ? 8 : 2;
  }
}

/** Runs batches of `n` for `ms` (and, warming up, at least `minOps`); the repetition's rate. */
function rateFor(run: (n: number) => number, n: number, ms: number, minOps = 0): number {
  const rates: number[] = [];
  let ops = 0;
  const start = performance.now();
  let t = start;
  while (t - start < ms || (ops < minOps && t - start < ms * MAX_WARMUP_FACTOR)) {
    consume(run(n));
    const now = performance.now();
    rates.push((n * 1000) / (now - t));
    ops += n;
    t = now;
  }
  return repetitionRate(rates);
}

/**
 * Rate of a synchronous operation: `run(n)` performs it `n` times. Warm-up
 * for `warmupMs` (and at least MIN_WARMUP_OPS operations), then `reps` runs of
 * `budgetMs`; operations per second, as the median of the repetitions.
 */
export function timeSync(run: (n: number) => number, o: BenchOptions): Sample {
  rateFor(run, 1, Math.min(o.warmupMs, 20)); // first calls, before timing batches
  const n = calibrate(run);
  rateFor(run, n, o.warmupMs, MIN_WARMUP_OPS);
  const samples: number[] = [];
  for (let r = 0; r < o.reps; r++) samples.push(rateFor(run, n, o.budgetMs));
  return sampleOf(samples);
}

async function calibrateAsync(run: (n: number) => Promise<number>): Promise<number> {
  let n = 1;
  for (;;) {
    let dt = Infinity;
    for (let k = 0; k < CALIBRATION_TRIES; k++) {
      const t0 = performance.now();
      consume(await run(n));
      dt = Math.min(dt, performance.now() - t0);
    }
    if (dt >= BATCH_MS || n >= 1 << 22) return n;
    n *= dt < BATCH_MS / 8 ? 8 : 2;
  }
}

async function rateForAsync(run: (n: number) => Promise<number>, n: number, ms: number, minOps = 0): Promise<number> {
  const rates: number[] = [];
  let ops = 0;
  const start = performance.now();
  let t = start;
  while (t - start < ms || (ops < minOps && t - start < ms * MAX_WARMUP_FACTOR)) {
    consume(await run(n));
    const now = performance.now();
    rates.push((n * 1000) / (now - t));
    ops += n;
    t = now;
  }
  return repetitionRate(rates);
}

/** The asynchronous twin of {@linkcode timeSync}: `run(n)` awaits the operation `n` times, one at a time. */
export async function timeAsync(run: (n: number) => Promise<number>, o: BenchOptions): Promise<Sample> {
  await rateForAsync(run, 1, Math.min(o.warmupMs, 20));
  const n = await calibrateAsync(run);
  await rateForAsync(run, n, o.warmupMs, MIN_WARMUP_OPS);
  const samples: number[] = [];
  for (let r = 0; r < o.reps; r++) samples.push(await rateForAsync(run, n, o.budgetMs));
  return sampleOf(samples);
}

// ---- the control block of multi-worker cases ----
//
// Round 1 is the warm-up, rounds 2..reps+1 are measured. In each round every
// worker arrives (C_READY += 1) and blocks until the main thread sets C_GO to
// the round; the main thread waits for all arrivals, then releases them at
// once. Time-budgeted rounds end when the main thread sets C_STOP to the round.

/** Arrivals at the start barrier, summed over rounds. */
export const C_READY = 0;
/** The last round released. */
export const C_GO = 1;
/** The last round stopped. */
export const C_STOP = 2;
/** First word free for a case's own use. */
export const C_USER = 8;
/** Words of a control block. */
export const C_WORDS = 32;

/** A fresh control block. */
export function newControl(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(C_WORDS * 4));
}

/** Worker side: arrive at round `round`'s barrier and block until it is released. */
export function arrive(ctl: Int32Array, round: number): void {
  Atomics.add(ctl, C_READY, 1);
  Atomics.notify(ctl, C_READY);
  for (let go = Atomics.load(ctl, C_GO); go < round; go = Atomics.load(ctl, C_GO)) Atomics.wait(ctl, C_GO, go);
}

/** Worker side, for workers that need their event loop: the asynchronous twin of {@linkcode arrive}. */
export async function arriveAsync(ctl: Int32Array, round: number): Promise<void> {
  Atomics.add(ctl, C_READY, 1);
  Atomics.notify(ctl, C_READY);
  for (let go = Atomics.load(ctl, C_GO); go < round; go = Atomics.load(ctl, C_GO)) {
    const r = Atomics.waitAsync(ctl, C_GO, go);
    if (r.async) await r.value;
  }
}

/** True once the main thread has stopped round `round`. */
export function stopped(ctl: Int32Array, round: number): boolean {
  return Atomics.load(ctl, C_STOP) >= round;
}

/** Main side: waits until `arrivals` workers in total have arrived (without blocking the event loop). */
export async function awaitArrivals(ctl: Int32Array, arrivals: number): Promise<void> {
  for (let v = Atomics.load(ctl, C_READY); v < arrivals; v = Atomics.load(ctl, C_READY)) {
    const r = Atomics.waitAsync(ctl, C_READY, v, 60_000);
    if (r.async && (await r.value) === "timed-out") {
      throw new Error(`Cannot start round as only ${v} of ${arrivals} worker arrivals came within 60 s`);
    }
  }
}

/** Main side: releases round `round`. */
export function go(ctl: Int32Array, round: number): void {
  Atomics.store(ctl, C_GO, round);
  Atomics.notify(ctl, C_GO);
}

/** Main side: stops round `round`. */
export function stop(ctl: Int32Array, round: number): void {
  Atomics.store(ctl, C_STOP, round);
  Atomics.notify(ctl, C_STOP);
}

/** Resolves after `ms` milliseconds (used for time budgets only, never to order threads). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The time budgets of a warm-up round followed by `reps` measured rounds. */
export function roundBudgets(o: BenchOptions): number[] {
  return [o.warmupMs, ...Array.from({ length: o.reps }, () => o.budgetMs)];
}

/**
 * Main side: runs the rounds of a time-budgeted multi-worker case, one per
 * budget: release all `parties` workers, let them run that many
 * milliseconds, stop them. Each worker records what it did per round and
 * returns it from its function.
 */
export async function runRounds(ctl: Int32Array, parties: number, budgets: readonly number[]): Promise<void> {
  for (let round = 1; round <= budgets.length; round++) {
    await awaitArrivals(ctl, parties * round);
    go(ctl, round);
    await sleep(budgets[round - 1]);
    stop(ctl, round);
  }
}

/** What a worker did in one round: events counted and the milliseconds it took. */
export interface RoundResult {
  readonly count: number;
  readonly ms: number;
}

// ---- formatting ----

/** A rate with an SI suffix: 12.3M, 456k, 789. */
export function fmtRate(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1e9) return `${(x / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(x / 1e6).toFixed(a >= 1e8 ? 0 : a >= 1e7 ? 1 : 2)}M`;
  if (a >= 1e3) return `${(x / 1e3).toFixed(a >= 1e5 ? 0 : a >= 1e4 ? 1 : 2)}k`;
  return x.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : 2);
}

/** A ratio: 0.047×, 1.23×, 12.3×, 456×. */
export function fmtRatio(x: number): string {
  if (!Number.isFinite(x)) return "—";
  if (x >= 100) return `${x.toFixed(0)}×`;
  if (x >= 10) return `${x.toFixed(1)}×`;
  if (x >= 0.1) return `${x.toFixed(2)}×`;
  return `${x.toPrecision(2)}×`;
}

/** The spread of a sample: half its range as a percentage of its median ("±7%"); empty for one value. */
export function fmtSpread(s: Sample): string {
  if (s.samples.length < 2) return "";
  const lo = Math.min(...s.samples), hi = Math.max(...s.samples);
  return `±${((50 * (hi - lo)) / s.median).toFixed(0)}%`;
}

/** A duration given in seconds, in ns/µs/ms. */
export function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return String(seconds);
  if (seconds < 1e-6) return `${(seconds * 1e9).toFixed(0)} ns`;
  if (seconds < 1e-3) return `${(seconds * 1e6).toFixed(seconds < 1e-5 ? 2 : 1)} µs`;
  return `${(seconds * 1e3).toFixed(2)} ms`;
}

/** Pads cells into aligned columns; numbers-looking columns are right-aligned by the caller's `right` set. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  right: ReadonlySet<number>,
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (right.has(i) ? (c ?? "").padStart(widths[i]) : (c ?? "").padEnd(widths[i]))).join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/**
 * Runs a Python baseline script with the bench's budget, warm-up and
 * repetitions (then `extra` arguments) from `cwd`, and resolves with the
 * JSON it prints, or a "skipped: …" line saying why there is none.
 */
export function runPythonJson<T>(
  script: string,
  o: BenchOptions,
  cwd: string,
  extra: readonly string[] = [],
): Promise<T | string> {
  const args = [
    script,
    "--budget",
    String(o.budgetMs / 1000),
    "--warmup",
    String(o.warmupMs / 1000),
    "--reps",
    String(o.reps),
    ...extra,
  ];
  return new Promise((resolve) => {
    execFile("python3", args, { cwd, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") return resolve("skipped: python3 not found");
      if (err) return resolve(`skipped: python3 failed: ${String(stderr || err.message).trim().split("\n").pop()}`);
      try {
        resolve(JSON.parse(stdout) as T);
      } catch {
        resolve(`skipped: python3 printed no JSON: ${stdout.slice(0, 200)}`);
      }
    });
  });
}
