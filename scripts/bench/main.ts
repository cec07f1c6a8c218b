/**
 * procshare's benchmark: every figure printed beside a baseline measured in
 * the same run, as a ratio (STYLE.md §7). Not a test: nothing here fails on
 * a slow machine; targets are printed as met or not.
 *
 *   A   Dict get/set, Queue put→get, Lock acquire→release from a client in a
 *       worker thread, one call at a time: shared buffer and unix socket
 *       (async API; Sync twins too on the shared buffer), against
 *       (a) a Map owned by the main thread reached by postMessage
 *           request/response, and (b) Python's multiprocessing.Manager().
 *   B2  Dict getSync / get against Map.get (same thread) and Python's get.
 *   B3  Queue stream between two workers against a MessagePort stream.
 *   B4  Uncontended Lock acquireSync/releaseSync and tryAcquireSync/releaseSync.
 *   B5  Contended Lock hand-off between two workers against ping-pongs.
 *   B6  Dict getSync from 2 reader threads against 1.
 *   C   Between OS processes (processes.ts), on unix: and shm: (Sync twins):
 *       dict get, queue stream, lock pairs, ping-pong, Value add, seed 000's
 *       4 readers, against Python's multiprocessing in separate processes
 *       (python_processes.py) and getSync between threads.
 *   E   Pool.map of 100,000 trivial tasks, chunksize 1,000, 2 workers, as
 *       threads and processes (pool.ts), against Python's Pool.map and
 *       piscina (a run() per item, and a run() per chunk of 1,000).
 *
 * Usage:
 *   npm run bench                          Node (tsx); ~2 min
 *   npm run bench -- --quick               a smoke run, ~15 s
 *   npm run bench -- --runtime deno        re-runs itself under Deno (or bun, node, all)
 *   npx deno run -A scripts/bench/main.ts  the same, directly; or: npx bun scripts/bench/main.ts
 *
 * Flags: --quick, --runtime node|deno|bun|all, --budget <ms> (per repetition, default 300),
 * --reps <n> (default 3), --json <path> (default .tmp/bench.json), --no-python,
 * --only <sections> (e.g. A,B6), -h/--help.
 * @module
 */
import { execFileSync, spawn as spawnChild } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { type Lock, Manager, type Queue, spawn } from "../../mod.ts";
import { runtime, runtimeVersion } from "../../transports/_runtime/runtime.ts";
import {
  type BenchOptions,
  fmtDuration,
  fmtRate,
  fmtRatio,
  fmtSpread,
  formatTable,
  newControl,
  roundBudgets,
  type RoundResult,
  runPythonJson,
  runRounds,
  type Sample,
  sampleOf,
  sinkValue,
  timeAsync,
  timeSync,
} from "./_harness.ts";
import { rawWorker } from "./_raw_worker.ts";
import { sectionE } from "./pool.ts";
import { sectionC } from "./processes.ts";
import { KEY_MASK, KEY_RING, KEYS } from "./workers/_keys.ts";
import type client from "./workers/client.ts";
import type { OwnerRequest } from "./workers/pm_client.ts";
import type contender from "./workers/lock_contender.ts";
import { type ContenderRound, S_COUNTER } from "./workers/lock_contender.ts";
import type attacker from "./workers/attacker.ts";
import type reader from "./workers/dict_reader.ts";
import type { ReaderRound } from "./workers/dict_reader.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");
const worker = (name: string) => new URL(`./workers/${name}.ts`, import.meta.url);

// ---- command line ----

interface Cli {
  readonly quick: boolean;
  readonly runtime: string | undefined;
  readonly budgetMs: number | undefined;
  readonly reps: number | undefined;
  readonly json: string;
  readonly python: boolean;
  /** Sections to run (all when undefined). */
  readonly only: ReadonlySet<string> | undefined;
}

function usage(): string {
  const src = fs.readFileSync(fileURLToPath(import.meta.url), "utf8");
  const doc = src.slice(src.indexOf("/**") + 3, src.indexOf("*/"));
  return doc.split("\n").map((l) => l.replace(/^ \* ?/, "")).filter((l) => !l.startsWith("@module")).join("\n").trim();
}

function parseCli(argv: readonly string[]): Cli {
  let quick = false, rt: string | undefined, budgetMs: number | undefined, reps: number | undefined;
  let json = path.join(ROOT, ".tmp", "bench.json"), python = true, only: Set<string> | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new TypeError(`Cannot parse flags as '${a}' needs a value: received nothing`);
      return v;
    };
    const positive = (v: string) => {
      const n = Number(v);
      if (!(n > 0)) throw new TypeError(`Cannot parse flags as '${a}' must be a positive number: received ${v}`);
      return n;
    };
    if (a === "--quick") quick = true;
    else if (a === "--runtime") rt = value();
    else if (a.startsWith("--runtime=")) rt = a.slice(10);
    else if (a === "--budget") budgetMs = positive(value());
    else if (a === "--reps") reps = Math.round(positive(value()));
    else if (a === "--json") json = path.resolve(value());
    else if (a === "--no-python") python = false;
    else if (a === "--only") only = new Set(value().toUpperCase().split(",").map((x) => x.trim()));
    else if (a === "-h" || a === "--help") {
      console.log(usage());
      process.exit(0);
    } else throw new TypeError(`Cannot parse flags as '${a}' is unknown: received ${argv.join(" ")}`);
  }
  if (rt !== undefined && !["node", "deno", "bun", "all"].includes(rt)) {
    throw new TypeError(`Cannot parse flags as '--runtime' must be node, deno, bun or all: received ${rt}`);
  }
  for (const k of only ?? []) {
    if (!(k in SECTIONS)) {
      throw new TypeError(
        `Cannot parse flags as '--only' takes sections ${Object.keys(SECTIONS).join(",")}: received ${k}`,
      );
    }
  }
  return { quick, runtime: rt, budgetMs, reps, json, python, only };
}

/** The command that runs this script on `rt`, with `args`. */
function commandFor(rt: string, args: readonly string[]): [string, string[]] {
  const main = fileURLToPath(import.meta.url);
  const bin = (name: string) => {
    const p = path.join(ROOT, "node_modules", ".bin", name);
    return fs.existsSync(p) ? p : name;
  };
  switch (rt) {
    case "deno":
      return [bin("deno"), ["run", "-A", main, ...args]];
    case "bun":
      return [bin("bun"), [main, ...args]];
    default:
      return [runtime === "node" ? process.execPath : "node", ["--import", "tsx", main, ...args]];
  }
}

function runChild(rt: string, args: readonly string[]): Promise<number> {
  const [cmd, cargs] = commandFor(rt, args);
  const show = (a: string) => (a.startsWith(ROOT + path.sep) ? path.relative(ROOT, a) : a);
  console.log(`\n$ ${[cmd, ...cargs].map(show).join(" ")}`);
  return new Promise((resolve) => {
    const child = spawnChild(cmd, cargs, { cwd: ROOT, stdio: "inherit" });
    child.on("error", (e) => {
      console.error(`Cannot run the bench on ${rt}: ${e.message}`);
      resolve(127);
    });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** Without the flags that choose where the results go or which runtime runs. */
function passThrough(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--runtime" || argv[i] === "--json") i++;
    else if (!argv[i].startsWith("--runtime=")) out.push(argv[i]);
  }
  return out;
}

// ---- results ----

/** One line of the table: our figure beside one baseline. */
interface Row {
  readonly section: string;
  readonly name: string;
  readonly figure: number;
  readonly unit: string;
  readonly samples?: readonly number[];
  readonly baseline?: string;
  readonly baselineFigure?: number;
  readonly baselineSamples?: readonly number[];
  /** figure ÷ baselineFigure. */
  readonly ratio?: number;
  /** The target, in words, and whether it is met. */
  readonly target?: string;
  readonly met?: boolean;
  readonly note?: string;
}

const rows: Row[] = [];
const notes: Record<string, string[]> = {};

function row(r: Omit<Row, "ratio">): void {
  const ratio = r.baselineFigure === undefined ? undefined : r.figure / r.baselineFigure;
  rows.push({ ...r, ratio });
}

function note(section: string, text: string): void {
  (notes[section] ??= []).push(text);
}

const SECTIONS: Record<string, string> = {
  A: "A. Foundation: a client in a worker thread, one call in flight at a time",
  B2: "B2. Dict reads in one thread",
  B3: "B3. Queue stream between two worker threads (producer → consumer)",
  B4: "B4. Uncontended Lock in one thread",
  B5: "B5. Contended Lock hand-off between two worker threads",
  B6: "B6. Dict getSync from 2 reader threads against 1",
  C: "C. Between OS processes (procshare unix: and shm:; Python multiprocessing baselines)",
  D: "D. A socket manager while another client sends hostile frames",
  E: "E. Pool.map of 100,000 x * x, chunksize 1,000, 2 workers (Python's Pool.map, piscina)",
};

function printSection(key: string): void {
  const rs = rows.filter((r) => r.section === key);
  if (rs.length === 0) return;
  console.log(`\n${SECTIONS[key]}`);
  const spread = (xs: readonly number[] | undefined) => (xs ? fmtSpread(sampleOf(xs)) : "");
  const cells = rs.map((r) => [
    r.name,
    fmtRate(r.figure),
    spread(r.samples),
    r.unit,
    r.baseline ?? "",
    r.baselineFigure === undefined ? "" : fmtRate(r.baselineFigure),
    spread(r.baselineSamples),
    r.ratio === undefined ? "" : fmtRatio(r.ratio),
    r.target === undefined ? "" : `${r.target} ${r.met ? "met" : "NOT MET"}`,
    r.note ?? "",
  ]);
  console.log(
    formatTable(
      ["case", "figure", "±", "unit", "baseline", "baseline", "±", "ratio", "target", "note"],
      cells,
      new Set([1, 2, 5, 6, 7]),
    ),
  );
  for (const n of notes[key] ?? []) console.log(`  · ${n}`);
}

// ---- the Python baseline ----

interface PythonResults {
  readonly python: string;
  readonly start_method: string;
  readonly results: Record<"dict_get" | "dict_set" | "queue_pair" | "lock_pair", Sample>;
}

function runPython(o: BenchOptions): Promise<PythonResults | string> {
  return runPythonJson<PythonResults>(path.join(HERE, "python_manager.py"), o, ROOT, []);
}

// ---- helpers ----

/** Waits for `work`, failing early if any worker fails first (instead of waiting on a barrier forever). */
async function guarded<T>(work: Promise<T>, results: readonly Promise<unknown>[]): Promise<T> {
  const failed = results.map((p) => p.then(() => new Promise<never>(() => {})));
  return await Promise.race([work, ...failed]);
}

/**
 * One rate per measured round (by default every round but the first, the
 * warm-up): the sum over workers of what each counted ÷ its own time.
 */
function aggregate<R extends RoundResult>(
  perWorker: readonly (readonly R[])[],
  pick: (r: R) => number = (r) => r.count,
  rounds: readonly number[] = perWorker[0].map((_, k) => k).slice(1),
): Sample {
  return sampleOf(
    rounds.map((k) => perWorker.reduce((sum, w) => sum + (w[k].ms > 0 ? (pick(w[k]) * 1000) / w[k].ms : 0), 0)),
  );
}

function socketPath(): string {
  return path.join(os.tmpdir(), `procshare-bench-${process.pid}.sock`);
}

// ---- A: foundation ----

async function procshareClient(
  transport: string | undefined,
  sync: boolean,
  o: BenchOptions,
): Promise<Record<string, Sample>> {
  const m = await Manager.start(transport ? { transport } : undefined);
  try {
    const dict = await m.dict<string, number>(new Map(KEYS.map((k, i) => [k, i])));
    const queue = await m.queue<number>();
    const lock = await m.lock();
    const w = spawn<typeof client>(worker("client"), { args: [dict, queue, lock, sync, o] });
    return await w.join();
  } finally {
    await m.shutdown();
  }
}

/** The owner side of baseline (a): a Map, a FIFO and a lock flag served over `port`. */
function serveOwner(port: MessagePort): void {
  const map = new Map<string, number>(KEYS.map((k, i) => [k, i]));
  const fifo: number[] = [];
  let takers = 0, held = false, acquirers = 0;
  port.on("message", (m: OwnerRequest) => {
    switch (m.op) {
      case "get":
        return port.postMessage(map.get(m.k));
      case "set":
        map.set(m.k, m.v);
        return port.postMessage(undefined);
      case "put":
        port.postMessage(undefined);
        if (takers > 0) {
          takers--;
          port.postMessage(m.v);
        } else fifo.push(m.v);
        return;
      case "take":
        if (fifo.length > 0) port.postMessage(fifo.shift());
        else takers++;
        return;
      case "acquire":
        if (held) acquirers++;
        else {
          held = true;
          port.postMessage(true);
        }
        return;
      case "release":
        if (acquirers > 0) {
          acquirers--;
          port.postMessage(undefined);
          port.postMessage(true);
        } else {
          held = false;
          port.postMessage(undefined);
        }
        return;
    }
  });
}

async function postMessageClient(o: BenchOptions): Promise<Record<string, Sample>> {
  const { port1, port2 } = new MessageChannel();
  serveOwner(port1);
  try {
    return await rawWorker<Record<string, Sample>>(worker("pm_client"), [port2, o], [port2]).result;
  } finally {
    port1.close();
  }
}

async function sectionA(o: BenchOptions, py: PythonResults | string): Promise<{ sb: Record<string, Sample> }> {
  const sb = await procshareClient(undefined, true, o);
  const sock = await procshareClient(`unix:${socketPath()}`, false, o);
  const pm = await postMessageClient(o);
  const ops: Array<[string, string, string, keyof PythonResults["results"], string]> = [
    ["get", "dict.get", "ops/s", "dict_get", "Manager().dict() get"],
    ["set", "dict.set", "ops/s", "dict_set", "Manager().dict() set"],
    ["queuePair", "queue.put→get", "pairs/s", "queue_pair", "Manager().Queue() put→get"],
    ["lockPair", "lock.acquire→release", "pairs/s", "lock_pair", "Manager().Lock() acquire→release"],
  ];
  const syncName: Record<string, string> = {
    get: "dict.getSync",
    set: "dict.setSync",
    queuePair: "queue.putSync→getSync",
    lockPair: "lock.acquireSync→releaseSync",
  };
  for (const [op, name, unit, pyKey, pyName] of ops) {
    const figures: Array<[string, Sample]> = [
      [`${name}  shared buffer`, sb[op]],
      [`${name}  unix socket`, sock[op]],
      [`${syncName[op]}  shared buffer`, sb[`${op}Sync`]],
    ];
    for (const [label, s] of figures) {
      row({
        section: "A",
        name: label,
        figure: s.median,
        unit,
        samples: s.samples,
        baseline: "postMessage → Map owner",
        baselineFigure: pm[op].median,
        baselineSamples: pm[op].samples,
      });
      if (typeof py === "string") {
        row({
          section: "A",
          name: label,
          figure: s.median,
          unit,
          samples: s.samples,
          baseline: `Python ${pyName}`,
          note: py,
        });
      } else {
        row({
          section: "A",
          name: label,
          figure: s.median,
          unit,
          samples: s.samples,
          baseline: `Python ${pyName}`,
          baselineFigure: py.results[pyKey].median,
          baselineSamples: py.results[pyKey].samples,
        });
      }
    }
  }
  note(
    "A",
    "each case: a worker thread calls the structure one operation at a time (await each); pairs = two operations",
  );
  note(
    "A",
    "unix socket: manager server in the main thread, client in the worker; postMessage: Map owned by the main thread",
  );
  if (typeof py !== "string") {
    note("A", `Python ${py.python} (${py.start_method}): this process is a client of the Manager's server process`);
  }
  return { sb };
}

// ---- D: a socket manager under attack ----

/**
 * Issue 8 item 4: "other clients' throughput stays within 2× during an
 * attack". A client in a worker thread measures `dict.get` on a unix-socket
 * manager served by this thread, first alone, then while a separate OS
 * process sends hostile frames to the same server in a loop (each is refused
 * with a CodecError before cbor-x sees it).
 */
async function sectionD(o: BenchOptions): Promise<void> {
  await using m = await Manager.start({ transport: `unix:${socketPath()}` });
  const dict = await m.dict<string, number>(new Map(KEYS.map((k, i) => [k, i])));
  const queue = await m.queue<number>();
  const lock = await m.lock();
  const answered = await m.value("i32", 0);
  const underWay = await m.event();
  const measure = () => spawn<typeof client>(worker("client"), { args: [dict, queue, lock, false, o] }).join();
  const calm = await measure();
  const bad = spawn<typeof attacker>(worker("attacker"), {
    args: [m.address!, m.authkey!.toHex(), (dict.handle as unknown as { id: number }).id, answered, underWay],
    as: "process",
  });
  // the attack is under way once its first hostile frame was answered
  if (!(await underWay.wait({ timeout: 60_000 }))) throw new Error("the attacker never got an answer");
  const before = await answered.load();
  const attacked = await measure();
  const frames = (await answered.load()) - before;
  await bad.terminate();
  row({
    section: "D",
    name: "dict.get unix socket, under attack",
    figure: attacked.get.median,
    unit: "ops/s",
    samples: attacked.get.samples,
    baseline: "the same, no attack",
    baselineFigure: calm.get.median,
    baselineSamples: calm.get.samples,
    target: "≥ 0.5×",
    met: attacked.get.median / calm.get.median >= 0.5,
  });
  note("D", `the attacker (a separate process) had ${frames} hostile frames refused while the client measured`);
  note("D", "hostile frames: a value-sharing bomb, a 256 KiB bignum, 4 MiB of empty maps, 100,000 nested arrays");
}

// ---- B2: dict reads in one thread ----

async function sectionB2(o: BenchOptions, py: PythonResults | string): Promise<void> {
  const m = await Manager.start();
  try {
    const dict = await m.dict<string, number>(new Map(KEYS.map((k, i) => [k, i])));
    const map = new Map<string, number>(KEYS.map((k, i) => [k, i]));
    const mapGet = timeSync((n) => {
      let s = 0;
      for (let j = 0; j < n; j++) s += map.get(KEY_RING[j & KEY_MASK]) ?? 0;
      return s;
    }, o);
    const getSync = timeSync((n) => {
      let s = 0;
      for (let j = 0; j < n; j++) s += dict.getSync(KEY_RING[j & KEY_MASK]) ?? 0;
      return s;
    }, o);
    const get = await timeAsync(async (n) => {
      let s = 0;
      for (let j = 0; j < n; j++) s += (await dict.get(KEY_RING[j & KEY_MASK])) ?? 0;
      return s;
    }, o);
    const vsMap = { baseline: "Map.get, same thread", baselineFigure: mapGet.median, baselineSamples: mapGet.samples };
    const pyGet = typeof py === "string" ? undefined : py.results.dict_get;
    const vsPy = pyGet
      ? { baseline: "Python Manager().dict() get", baselineFigure: pyGet.median, baselineSamples: pyGet.samples }
      : { baseline: "Python Manager().dict() get", note: py as string };
    const getSyncVsMap = getSync.median / mapGet.median;
    row({
      section: "B2",
      name: "dict.getSync",
      figure: getSync.median,
      unit: "ops/s",
      samples: getSync.samples,
      ...vsMap,
      target: "≥ 1/20 (0.05×)",
      met: getSyncVsMap >= 1 / 20,
      note: `${fmtDuration(1 / getSync.median)}/op vs ${fmtDuration(1 / mapGet.median)}/op`,
    });
    row({
      section: "B2",
      name: "dict.getSync",
      figure: getSync.median,
      unit: "ops/s",
      samples: getSync.samples,
      ...vsPy,
      target: "≥ 100×",
      met: pyGet ? getSync.median / pyGet.median >= 100 : false,
    });
    row({ section: "B2", name: "dict.get (async)", figure: get.median, unit: "ops/s", samples: get.samples, ...vsMap });
    row({ section: "B2", name: "dict.get (async)", figure: get.median, unit: "ops/s", samples: get.samples, ...vsPy });
    note("B2", `${KEYS.length} string keys ("key:0"…), small integer values, read round-robin; main thread`);
  } finally {
    await m.shutdown();
  }
}

// ---- B3: queue stream between two workers ----

async function sectionB3(o: BenchOptions): Promise<void> {
  const rounds = o.reps + 1;
  const m = await Manager.start();
  let ours: Sample;
  try {
    const queue: Queue<number> = await m.queue<number>();
    const ctl = newControl();
    const prod = spawn(worker("queue_producer"), { args: [queue, ctl, rounds] });
    const cons = spawn(worker("queue_consumer"), { args: [queue, ctl, rounds] });
    await guarded(runRounds(ctl, 2, roundBudgets(o)), [prod.join(), cons.join()]);
    const [p, c] = (await Promise.all([prod.join(), cons.join()])) as [RoundResult[], RoundResult[]];
    if (p.some((r, k) => r.count !== c[k].count)) throw new Error("Queue stream lost or duplicated items");
    ours = aggregate([c]);
  } finally {
    await m.shutdown();
  }
  const ctl = newControl();
  const { port1, port2 } = new MessageChannel();
  const prod = rawWorker<RoundResult[]>(worker("port_producer"), [port1, ctl, rounds], [port1]);
  const cons = rawWorker<RoundResult[]>(worker("port_consumer"), [port2, ctl, rounds], [port2]);
  await guarded(runRounds(ctl, 2, roundBudgets(o)), [prod.result, cons.result]);
  const [p, c] = await Promise.all([prod.result, cons.result]);
  if (p.some((r, k) => r.count !== c[k].count)) throw new Error("Port stream lost or duplicated items");
  const base = aggregate([c]);
  row({
    section: "B3",
    name: "queue putSync → getSync",
    figure: ours.median,
    unit: "items/s",
    samples: ours.samples,
    baseline: "MessagePort postMessage stream",
    baselineFigure: base.median,
    baselineSamples: base.samples,
    target: "≥ 5×",
    met: ours.median / base.median >= 5,
  });
  note(
    "B3",
    "unbounded queue; the producer streams 0,1,2,… until the round's time is up, then -1; rate = items ÷ consumer's time to the -1",
  );
}

// ---- B4: uncontended lock ----

async function sectionB4(o: BenchOptions): Promise<void> {
  const m = await Manager.start();
  try {
    const lock: Lock = await m.lock();
    const word = new Int32Array(new SharedArrayBuffer(64));
    const cas = timeSync((n) => {
      for (let j = 0; j < n; j++) {
        if (Atomics.compareExchange(word, 0, 0, 1) !== 0) throw new Error("raw CAS lock was held");
        Atomics.compareExchange(word, 0, 1, 0);
      }
      return n;
    }, o);
    const acq = timeSync((n) => {
      for (let j = 0; j < n; j++) {
        lock.acquireSync();
        lock.releaseSync();
      }
      return n;
    }, o);
    const tryAcq = timeSync((n) => {
      let got = 0;
      for (let j = 0; j < n; j++) {
        if (lock.tryAcquireSync()) {
          got++;
          lock.releaseSync();
        }
      }
      if (got !== n) throw new Error("tryAcquireSync failed on a free lock");
      return got;
    }, o);
    const permit = timeSync((n) => {
      for (let j = 0; j < n; j++) lock.acquireSync()[Symbol.dispose]();
      return n;
    }, o);
    const base = { baseline: "2× Atomics.compareExchange", baselineFigure: cas.median, baselineSamples: cas.samples };
    const target = runtime === "node" ? "≥ 10M/s" : "≥ 10M/s (set for Node)";
    row({
      section: "B4",
      name: "lock.acquireSync(); releaseSync()",
      figure: acq.median,
      unit: "pairs/s",
      samples: acq.samples,
      ...base,
      target,
      met: acq.median >= 10e6,
      note: `${fmtDuration(1 / acq.median)}/pair`,
    });
    row({
      section: "B4",
      name: "lock.tryAcquireSync(); releaseSync()",
      figure: tryAcq.median,
      unit: "pairs/s",
      samples: tryAcq.samples,
      ...base,
      target,
      met: tryAcq.median >= 10e6,
      note: `${fmtDuration(1 / tryAcq.median)}/pair`,
    });
    row({
      section: "B4",
      name: "lock.acquireSync()[Symbol.dispose]()",
      figure: permit.median,
      unit: "pairs/s",
      samples: permit.samples,
      ...base,
      note: `${fmtDuration(1 / permit.median)}/pair (what \`using\` does)`,
    });
    note("B4", "main thread; acquireSync returns a permit object (allocated per call) that the first two rows drop");
  } finally {
    await m.shutdown();
  }
}

// ---- B5: contended lock ----

async function sectionB5(o: BenchOptions): Promise<void> {
  const rounds = o.reps + 1;
  let rs: ContenderRound[][];
  const m = await Manager.start();
  try {
    const lock = await m.lock();
    const ctl = newControl();
    const shared = new Int32Array(new SharedArrayBuffer(64));
    const ws = [1, 2].map((me) =>
      spawn<typeof contender>(worker("lock_contender"), { args: [lock, ctl, shared, me, rounds] })
    );
    await guarded(runRounds(ctl, 2, roundBudgets(o)), ws.map((w) => w.join()));
    rs = await Promise.all(ws.map((w) => w.join()));
    const total = rs.flat().reduce((s, r) => s + r.count, 0);
    if (shared[S_COUNTER] !== total) {
      throw new Error(`Lock failed mutual exclusion: counter ${shared[S_COUNTER]} after ${total} increments`);
    }
  } finally {
    await m.shutdown();
  }
  const handoffs = aggregate(rs, (r) => r.handoffs);
  const acquisitions = aggregate(rs);
  // waits: over the measured rounds of both workers
  const measured = rs.flatMap((w) => w.slice(1));
  const waits = measured.reduce((s, r) => s + r.waits, 0);
  const meanWait = waits > 0 ? measured.reduce((s, r) => s + r.waitMs, 0) / waits / 1000 : NaN;
  const maxWait = Math.max(...measured.map((r) => r.maxWaitMs)) / 1000;

  const ctlP = newControl();
  const { port1, port2 } = new MessageChannel();
  const pa = rawWorker<RoundResult[]>(worker("port_pingpong"), [port1, ctlP, true, rounds], [port1]);
  const pb = rawWorker<RoundResult[]>(worker("port_pingpong"), [port2, ctlP, false, rounds], [port2]);
  await guarded(runRounds(ctlP, 2, roundBudgets(o)), [pa.result, pb.result]);
  const pingpong = aggregate([await pa.result]);
  await pb.result;

  const ctlA = newControl();
  const turn = new Int32Array(new SharedArrayBuffer(64));
  const aa = rawWorker<RoundResult[]>(worker("atomics_pingpong"), [turn, ctlA, true, rounds]);
  const ab = rawWorker<RoundResult[]>(worker("atomics_pingpong"), [turn, ctlA, false, rounds]);
  await guarded(runRounds(ctlA, 2, roundBudgets(o)), [aa.result, ab.result]);
  const atomics = aggregate([await aa.result]);
  await ab.result;

  const h = handoffs.median, acq = acquisitions.median;
  const vsPing = {
    baseline: "postMessage ping-pong",
    baselineFigure: pingpong.median,
    baselineSamples: pingpong.samples,
  };
  row({
    section: "B5",
    name: "lock hand-offs",
    figure: h,
    unit: "hand-offs/s",
    samples: handoffs.samples,
    ...vsPing,
    note: `1 per ${fmtDuration(1 / h)} vs 1 per ${fmtDuration(1 / pingpong.median)}; ${
      (100 * h / acq).toFixed(2)
    }% of acquisitions`,
  });
  row({
    section: "B5",
    name: "lock hand-offs",
    figure: h,
    unit: "hand-offs/s",
    samples: handoffs.samples,
    baseline: "Atomics spin+wait ping-pong",
    baselineFigure: atomics.median,
    baselineSamples: atomics.samples,
    note: `1 per ${fmtDuration(1 / h)} vs 1 per ${fmtDuration(1 / atomics.median)}`,
  });
  row({
    section: "B5",
    name: "lock acquisitions, both workers",
    figure: acq,
    unit: "acq/s",
    samples: acquisitions.samples,
    ...vsPing,
    note: `${fmtRate(waits / (o.reps * o.budgetMs / 1000))} waits/s; mean wait ${fmtDuration(meanWait)}, max ${
      fmtDuration(maxWait)
    }`,
  });
  note(
    "B5",
    "each worker loops acquire / counter++ / release; a hand-off is an acquisition following the other worker's " +
      "(the lock barges: a releaser may take it straight back); ping-pong: each message is one hand-off",
  );
  note("B5", "a wait = an acquisition that found the lock held (tryAcquireSync failed), timed around acquireSync");
}

// ---- B6: reader scaling ----

async function sectionB6(o: BenchOptions): Promise<void> {
  const m = await Manager.start();
  try {
    const dict = await m.dict<string, number>(new Map(KEYS.map((k, i) => [k, i])));
    // warm-up rounds with both readers on every path, then 1 and 2 readers interleaved
    const modes = ["dict", "map", "atomics"] as const;
    const schedule: ReaderRound[] = modes.map((mode) => ({ mode, active: 2 }));
    const budgets = modes.map(() => o.warmupMs);
    for (let r = 0; r < o.reps; r++) {
      for (const mode of modes) {
        for (const active of [1, 2]) {
          schedule.push({ mode, active });
          budgets.push(o.budgetMs);
        }
      }
    }
    const ctl = newControl();
    const word = new Int32Array(new SharedArrayBuffer(64));
    const ws = [0, 1].map((index) =>
      spawn<typeof reader>(worker("dict_reader"), { args: [dict, word, ctl, index, schedule] })
    );
    await guarded(runRounds(ctl, 2, budgets), ws.map((w) => w.join()));
    const rs = await Promise.all(ws.map((w) => w.join()));
    const pick = (mode: string, active: number) =>
      aggregate(
        rs,
        undefined,
        schedule.flatMap((x, k) => (k >= modes.length && x.mode === mode && x.active === active ? [k] : [])),
      );
    const one = pick("dict", 1), two = pick("dict", 2), mapOne = pick("map", 1), mapTwo = pick("map", 2);
    const atOne = pick("atomics", 1), atTwo = pick("atomics", 2);
    const ours = two.median / one.median, machine = mapTwo.median / mapOne.median;
    row({
      section: "B6",
      name: "dict.getSync, 2 readers ÷ 1 reader",
      figure: two.median,
      unit: "ops/s",
      samples: two.samples,
      baseline: "dict.getSync, 1 reader",
      baselineFigure: one.median,
      baselineSamples: one.samples,
      target: "≥ 1.6×",
      met: ours >= 1.6,
      note: `${(100 * ours / machine).toFixed(0)}% of the machine's scaling (Map.get row)`,
    });
    row({
      section: "B6",
      name: "Map.get, 2 readers ÷ 1 (own Map each)",
      figure: mapTwo.median,
      unit: "ops/s",
      samples: mapTwo.samples,
      baseline: "Map.get, 1 reader",
      baselineFigure: mapOne.median,
      baselineSamples: mapOne.samples,
      note: "the machine's own scaling, for reference",
    });
    row({
      section: "B6",
      name: "Atomics.load of 1 shared word, 2 ÷ 1",
      figure: atTwo.median,
      unit: "loads/s",
      samples: atTwo.samples,
      baseline: "Atomics.load, 1 reader",
      baselineFigure: atOne.median,
      baselineSamples: atOne.samples,
      note: "each getSync loads the dict's sequence word twice",
    });
    note(
      "B6",
      `${
        os.availableParallelism?.() ?? os.cpus().length
      } CPUs; two reader threads, rounds of 1 and 2 readers interleaved; ` +
        "the main thread sleeps",
    );
  } finally {
    await m.shutdown();
  }
}

// ---- main ----

/** The 1-minute load average, when the platform reports one. */
function loadAverage(): number | undefined {
  try {
    const l = os.loadavg()[0];
    return Number.isFinite(l) && l > 0 ? l : undefined;
  } catch {
    return undefined;
  }
}

function gitInfo(): { commit?: string; dirty?: boolean } {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "ignore"],
    })
      .toString().trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "ignore"],
    }).toString().trim() !== "";
    return { commit, dirty };
  } catch {
    return {};
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const cli = parseCli(argv);

  if (cli.runtime === "all") {
    const runs: unknown[] = [];
    let code = 0;
    for (const rt of ["node", "deno", "bun"]) {
      const json = path.join(path.dirname(cli.json), `bench-${rt}.json`);
      code ||= await runChild(rt, [...passThrough(argv), "--json", json]);
      if (fs.existsSync(json)) runs.push(JSON.parse(fs.readFileSync(json, "utf8")));
    }
    fs.writeFileSync(cli.json, JSON.stringify({ runs }, null, 2));
    console.log(`\nresults of ${runs.length} runtimes: ${path.relative(ROOT, cli.json)}`);
    return code;
  }
  if (cli.runtime !== undefined && cli.runtime !== runtime) {
    return await runChild(cli.runtime, [...passThrough(argv), "--json", cli.json]);
  }

  const o: BenchOptions = cli.quick
    ? { budgetMs: cli.budgetMs ?? 60, warmupMs: 40, reps: cli.reps ?? 1 }
    : { budgetMs: cli.budgetMs ?? 300, warmupMs: Math.min(200, cli.budgetMs ?? 300), reps: cli.reps ?? 3 };
  const started = performance.now();
  const git = gitInfo();
  const cpus = os.availableParallelism?.() ?? os.cpus().length;
  console.log(
    `procshare bench — ${runtime} ${runtimeVersion()}, ${os.platform()}/${os.arch()}, ${cpus} CPUs` +
      (git.commit ? `, commit ${git.commit}${git.dirty ? " + uncommitted changes" : ""}` : ""),
  );
  console.log(
    `each figure: median of ${o.reps} × ${o.budgetMs} ms after ${o.warmupMs} ms warm-up; baselines measured in this run${
      cli.quick ? " (--quick: a smoke run, figures are rough)" : ""
    }; ± = half the range of the repetitions`,
  );
  const loadStart = loadAverage();
  if (loadStart !== undefined && loadStart > cpus) {
    console.log(
      `warning: load average ${loadStart.toFixed(2)} on ${cpus} CPUs: other processes compete for the CPUs, ` +
        "so multi-thread figures (B3, B5, B6) and spreads are unreliable",
    );
  }

  const needPython = !cli.only || cli.only.has("A") || cli.only.has("B2");
  const py: PythonResults | string = !cli.python
    ? "skipped: --no-python"
    : needPython
    ? await runPython(o)
    : "skipped: not needed by --only";
  if (typeof py === "string") console.log(`Python baseline: ${py}`);

  const steps: Array<[string, () => Promise<unknown>]> = [
    ["A", () => sectionA(o, py)],
    ["B2", () => sectionB2(o, py)],
    ["B3", () => sectionB3(o)],
    ["B4", () => sectionB4(o)],
    ["B5", () => sectionB5(o)],
    ["B6", () => sectionB6(o)],
    ["C", () => sectionC(o, cli.python, { row, note: (text) => note("C", text) })],
    ["D", () => sectionD(o)],
    ["E", () => sectionE(cli.quick ? 3 : 7, cli.python, { row, note: (text) => note("E", text) })],
  ];
  const failures: Record<string, string> = {};
  for (const [key, step] of steps) {
    if (cli.only && !cli.only.has(key)) continue;
    const t0 = performance.now();
    try {
      await step();
    } catch (e) {
      failures[key] = (e as Error)?.stack ?? String(e);
      console.log(`\n${SECTIONS[key]}\n  FAILED: ${(e as Error)?.message ?? String(e)}`);
      continue;
    }
    printSection(key);
    console.log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }

  const targets = rows.filter((r) => r.target !== undefined);
  console.log("\nTargets");
  for (const r of targets) {
    const value = r.target!.includes("/s") ? fmtRate(r.figure) + " " + r.unit : fmtRatio(r.ratio ?? NaN);
    console.log(
      `  ${r.met ? "met    " : "NOT MET"}  ${r.section} ${r.name}${
        r.baseline ? ` vs ${r.baseline}` : ""
      }: ${value} (target ${r.target})`,
    );
  }
  for (const key of Object.keys(failures)) console.log(`  FAILED   ${key}: see the error above`);

  const elapsed = (performance.now() - started) / 1000;
  const loadEnd = loadAverage();
  if (loadEnd !== undefined) {
    console.log(`\nload average (1 min): ${loadStart?.toFixed(2) ?? "?"} at start, ${loadEnd.toFixed(2)} at end`);
  }
  const result = {
    runtime,
    version: runtimeVersion(),
    platform: `${os.platform()}/${os.arch()}`,
    cpus,
    date: new Date().toISOString(),
    ...git,
    options: { ...o, quick: cli.quick },
    loadAverage: { start: loadStart, end: loadEnd },
    python: typeof py === "string" ? py : { version: py.python, startMethod: py.start_method, results: py.results },
    rows,
    failures,
    elapsedSeconds: elapsed,
    sink: sinkValue(),
  };
  fs.mkdirSync(path.dirname(cli.json), { recursive: true });
  fs.writeFileSync(cli.json, JSON.stringify(result, null, 2));
  console.log(`\n${elapsed.toFixed(1)} s; results: ${path.relative(ROOT, cli.json)}`);
  return Object.keys(failures).length > 0 ? 1 : 0;
}

// Workers or handles left behind must not keep the process alive.
main().then((code) => process.exit(code), (e) => {
  console.error(e);
  process.exit(2);
});
