/**
 * Section C of procshare's benchmark: between OS processes. Every party of a
 * case (client and server, producer and consumer, the two sides of a
 * ping-pong, the adders, the readers) is a separate OS process, never a
 * worker thread; each procshare figure is printed beside a Python
 * `multiprocessing` baseline measured in the same run
 * (`python_processes.py`), with their ratio.
 *
 * procshare runs on `unix:` (a socket manager served by the bench process,
 * clients in child processes started by `spawn(url, { as: "process" })`)
 * and on `shm:` (issue 9: structures in shared memory that the children
 * map; their Sync twins), the `shm:` rows beside the `unix:` ones, with the
 * targets of issue 9's acceptance 7; seed 000's comparison (acceptance 8)
 * is the last case. Where `shm:` cannot start (not Linux, no FFI), a note
 * says why and the `unix:` rows remain.
 * @module
 */
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Manager, spawn, type Spawned } from "../../mod.ts";
import { type BenchOptions, fmtDuration, fmtRate, runPythonJson, type Sample, sampleOf } from "./_harness.ts";
import { KEYS } from "./workers/_keys.ts";
import type { ProcResult } from "./workers/_proc.ts";
import type procDictGet from "./workers/proc_dict_get.ts";
import type procQueue from "./workers/proc_queue.ts";
import type procPingPong from "./workers/proc_pingpong.ts";
import type procValueAdd from "./workers/proc_value_add.ts";
import type procLockPairs from "./workers/proc_lock_pairs.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");
const worker = (name: string) => new URL(`./workers/${name}.ts`, import.meta.url);

/** Reader processes of seed 000's comparison. */
export const SEED_READERS = 4;
/** Capacity of the streamed queues (procshare's and Python's). */
const QUEUE_MAXSIZE = 1000;

/** A row of the bench's table, as main.ts's `row` takes it. */
export interface ProcessRow {
  readonly section: string;
  readonly name: string;
  readonly figure: number;
  readonly unit: string;
  readonly samples?: readonly number[];
  readonly baseline?: string;
  readonly baselineFigure?: number;
  readonly baselineSamples?: readonly number[];
  readonly target?: string;
  readonly met?: boolean;
  readonly note?: string;
}

/** Where section C puts its rows and notes. */
export interface ProcessOutput {
  row(r: ProcessRow): void;
  note(text: string): void;
}

// ---- the Python baselines ----

type PyKey =
  | "dict_get"
  | "queue_stream"
  | "lock_pingpong"
  | "lock_pairs"
  | "value_add"
  | "seed_manager"
  | "seed_shm";

interface PythonProcesses {
  readonly python: string;
  readonly start_method: string;
  readonly results: Partial<Record<PyKey, Sample>>;
}

function runPython(o: BenchOptions): Promise<PythonProcesses | string> {
  return runPythonJson<PythonProcesses>(path.join(HERE, "python_processes.py"), o, ROOT, [
    "--keys",
    String(KEYS.length),
  ]);
}

// ---- helpers ----

/** The sum, repetition by repetition, of the processes' rates. */
function summed(rs: readonly ProcResult[]): Sample {
  const reps = rs[0].sample.samples.length;
  return sampleOf(Array.from({ length: reps }, (_, k) => rs.reduce((s, r) => s + r.sample.samples[k], 0)));
}

/** Doubles every rate (one round trip of a ping-pong is two hand-offs). */
function doubled(s: Sample): Sample {
  return sampleOf(s.samples.map((x) => 2 * x));
}

/** Waits for `timer`, then terminates `endless` (a process that loops until stopped), however `timer` ends. */
async function until<R>(timer: Spawned<R>, endless: Spawned<unknown>): Promise<R> {
  try {
    // an endless worker that stops early has failed: do not wait on the timer forever
    const failed = endless.join().then(
      () => Promise.reject(new Error("Cannot measure as the endless process returned")),
      (e) => Promise.reject(e),
    );
    return await Promise.race([timer.join(), failed]);
  } finally {
    await endless.terminate();
    await timer.terminate();
  }
}

function socketPath(): string {
  return path.join(os.tmpdir(), `procshare-bench-c-${process.pid}.sock`);
}

// ---- the procshare side ----

interface Ours {
  /** `dict.get`, or `dict.getSync` when the cases ran with `sync`. */
  readonly dictGet: Sample;
  readonly queueStream: Sample;
  readonly pingPong: Sample;
  readonly valueAdd: Sample;
  readonly seed: Sample;
  readonly seedPerProcess: readonly number[];
  /** With `sync`: the async API's rows too, and uncontended Lock pairs in a child. */
  readonly dictGetAsync?: Sample;
  readonly queueStreamAsync?: Sample;
  readonly lockPairs?: Sample;
}

/**
 * Every procshare case on a manager started on `transport`, each party a
 * child process. With `sync` (`shm:`) the workers use the Sync twins
 * (`getSync`, `putSync`/`getSync`, `acquireSync`/`releaseSync`, `addSync`),
 * and the async `dict.get` and queue stream and uncontended
 * `acquireSync`/`releaseSync` pairs are measured too.
 */
async function procshareOn(transport: string, o: BenchOptions, sync: boolean): Promise<Ours> {
  const m = await Manager.start({ transport });
  try {
    const dict = await m.dict<string, string>(new Map(KEYS.map((k, i) => [k, `value:${i}`])));
    const dictGetWith = async (api: boolean) =>
      (await spawn<typeof procDictGet>(worker("proc_dict_get"), { as: "process", args: [dict, o, 0, api] }).join())
        .sample;
    const streamWith = async (api: boolean) => {
      const queue = await m.queue<number>(QUEUE_MAXSIZE);
      const end = (role: "producer" | "consumer") =>
        spawn<typeof procQueue>(worker("proc_queue"), { as: "process", args: [queue, role, o, api] });
      const producer = end("producer");
      return (await until(end("consumer"), producer))!.sample;
    };

    // dict get from another process
    const dictGet = await dictGetWith(sync);
    const dictGetAsync = sync ? await dictGetWith(false) : undefined;

    // queue stream: producer process → consumer process
    const queueStream = await streamWith(sync);
    const queueStreamAsync = sync ? await streamWith(false) : undefined;

    // uncontended lock pairs in a child process
    const lockPairs = sync
      ? (await spawn<typeof procLockPairs>(worker("proc_lock_pairs"), { as: "process", args: [await m.lock(), o] })
        .join()).sample
      : undefined;

    // ping-pong through two semaphores
    const ping = await m.semaphore(0), pong = await m.semaphore(0);
    const side = (role: "echo" | "timer") =>
      spawn<typeof procPingPong>(worker("proc_pingpong"), { as: "process", args: [ping, pong, role, o, sync] });
    const echo = side("echo");
    const pingPong = doubled((await until(side("timer"), echo))!.sample);

    // value.add from 2 processes
    const value = await m.value("i", 0);
    const barrier2 = await m.barrier(2), done2 = await m.value("i", 0);
    const adders = await Promise.all(
      [0, 1].map(() =>
        spawn<typeof procValueAdd>(worker("proc_value_add"), {
          as: "process",
          args: [value, o, barrier2, done2, 2, sync],
        }).join()
      ),
    );
    const total = adders.reduce((s, r) => s + r.ops, 0);
    if ((await value.load()) !== total) {
      throw new Error(`Cannot trust value.add as it lost increments: ${await value.load()} after ${total}`);
    }
    const valueAdd = summed(adders);

    // seed 000: 4 reader processes
    const barrier4 = await m.barrier(SEED_READERS), done4 = await m.value("i", 0);
    const readers = await Promise.all(
      Array.from({ length: SEED_READERS }, (_, r) =>
        spawn<typeof procDictGet>(worker("proc_dict_get"), {
          as: "process",
          args: [dict, o, (r * KEYS.length / SEED_READERS) | 0, sync, barrier4, done4, SEED_READERS],
        }).join()),
    );
    return {
      dictGet,
      queueStream,
      pingPong,
      valueAdd,
      seed: summed(readers),
      seedPerProcess: readers.map((r) => r.sample.median),
      dictGetAsync,
      queueStreamAsync,
      lockPairs,
    };
  } finally {
    await m.shutdown();
  }
}

/**
 * The threads baseline of the `shm:` getSync row: the same worker, spawned
 * as a worker thread of this process, reads a dict of the same keys on a
 * `shared-buffer:` manager with `getSync`.
 */
async function threadsGetSync(o: BenchOptions): Promise<Sample> {
  const m = await Manager.start({ transport: "shared-buffer:" });
  try {
    const dict = await m.dict<string, string>(new Map(KEYS.map((k, i) => [k, `value:${i}`])));
    return (await spawn<typeof procDictGet>(worker("proc_dict_get"), { args: [dict, o, 0, true] }).join()).sample;
  } finally {
    await m.shutdown();
  }
}

// ---- the section ----

/**
 * Runs section C: the Python baselines first (unless `python` is false), then
 * procshare on `unix:`, on `shm:` (Sync twins, plus the async rows), and the
 * threads baseline of `shm:`'s getSync; rows of one case side by side.
 */
export async function sectionC(o: BenchOptions, python: boolean, out: ProcessOutput): Promise<void> {
  const py = python ? await runPython(o) : "skipped: --no-python";
  const unix = await procshareOn(`unix:${socketPath()}`, o, false);
  let shm: Ours | string;
  try {
    shm = await procshareOn("shm:", o, true);
  } catch (e) {
    // not Linux, no FFI permission, koffi missing: unix: rows only
    shm = `skipped: ${(e as Error)?.message ?? String(e)}`;
  }
  const threads = typeof shm === "string" ? undefined : await threadsGetSync(o);

  const vs = (key: PyKey, baseline: string) => {
    const s = typeof py === "string" ? undefined : py.results[key];
    return s
      ? { baseline, baselineFigure: s.median, baselineSamples: s.samples }
      : { baseline, note: typeof py === "string" ? py : "missing from python_processes.py's output" };
  };
  type Base = ReturnType<typeof vs>;
  /** A row; `ratio` (figure ÷ baseline at least) or `rate` (figure at least) makes its target. */
  const row = (
    name: string,
    unit: string,
    s: Sample,
    base: Base,
    extra: { note?: string; ratio?: number; rate?: number } = {},
  ) => {
    const target = extra.ratio !== undefined
      ? {
        target: `≥ ${extra.ratio}×`,
        met: base.baselineFigure !== undefined && s.median / base.baselineFigure >= extra.ratio,
      }
      : extra.rate !== undefined
      ? { target: `≥ ${fmtRate(extra.rate)}/s`, met: s.median >= extra.rate }
      : {};
    out.row({
      section: "C",
      name,
      figure: s.median,
      unit,
      samples: s.samples,
      ...base,
      ...target,
      ...(extra.note !== undefined && !("note" in base) ? { note: extra.note } : {}),
    });
  };
  const ours = typeof shm === "string" ? undefined : shm;
  const perOp = (s: Sample) => `${fmtDuration(1 / s.median)}/op`;

  // dict get from another process
  const pyGet = vs("dict_get", "Python Manager().dict() get");
  row("dict.get (async), unix:", "ops/s", unix.dictGet, pyGet, { note: perOp(unix.dictGet) });
  if (ours && threads) {
    row("dict.getSync, shm:", "ops/s", ours.dictGet, pyGet, { ratio: 100, note: perOp(ours.dictGet) });
    row("dict.getSync, shm:", "ops/s", ours.dictGet, {
      baseline: "dict.getSync, worker thread (shared-buffer:)",
      baselineFigure: threads.median,
      baselineSamples: threads.samples,
    }, { ratio: 0.7, note: `${perOp(ours.dictGet)} vs ${perOp(threads)}` });
    row("dict.get (async), shm:", "ops/s", ours.dictGetAsync!, pyGet, { ratio: 30, note: perOp(ours.dictGetAsync!) });
  }

  // queue stream
  const pyQueue = vs("queue_stream", `Python mp.Queue(${QUEUE_MAXSIZE}) stream`);
  row("queue put → get stream, unix:", "items/s", unix.queueStream, pyQueue);
  if (ours) {
    row("queue putSync → getSync stream, shm:", "items/s", ours.queueStream, pyQueue, { ratio: 10 });
    row("queue put → get stream (async), shm:", "items/s", ours.queueStreamAsync!, pyQueue);
  }

  // locks: uncontended pairs, hand-offs
  if (ours) {
    row(
      "lock.acquireSync(); releaseSync(), shm:, uncontended",
      "pairs/s",
      ours.lockPairs!,
      vs("lock_pairs", "Python mp.Lock acquire(); release(), uncontended"),
      { rate: 10e6, note: `${fmtDuration(1 / ours.lockPairs!.median)}/pair` },
    );
  }
  const pyPingPong = vs("lock_pingpong", "Python 2 × mp.Lock ping-pong");
  row("ping-pong hand-offs, unix: (2 semaphores)", "hand-offs/s", unix.pingPong, pyPingPong, {
    note: `1 per ${fmtDuration(1 / unix.pingPong.median)}`,
  });
  if (ours) {
    row("ping-pong hand-offs, shm: (2 semaphores, Sync)", "hand-offs/s", ours.pingPong, pyPingPong, {
      rate: 100e3,
      note: `1 per ${fmtDuration(1 / ours.pingPong.median)}`,
    });
  }

  // value add from 2 processes
  const pyAdd = vs("value_add", "Python mp.Value locked += 1, 2 processes");
  row("value.add(1) from 2 processes, unix:", "adds/s", unix.valueAdd, pyAdd);
  if (ours) row("value.addSync(1) from 2 processes, shm:", "adds/s", ours.valueAdd, pyAdd, { ratio: 1 });

  // seed 000
  const perProcess = (r: Ours) => `medians per process: ${r.seedPerProcess.map(fmtRate).join(", ")}`;
  const pySeed = vs("seed_manager", `Python Manager().dict() get, ${SEED_READERS} processes`);
  const pySeedShm = vs("seed_shm", `Python shared_memory hash, ${SEED_READERS} processes`);
  const seedUnix = `seed 000: dict.get from ${SEED_READERS} processes, unix:`;
  row(seedUnix, "gets/s", unix.seed, pySeed, { note: perProcess(unix) });
  row(seedUnix, "gets/s", unix.seed, pySeedShm);
  if (ours) {
    const seedShm = `seed 000: dict.getSync from ${SEED_READERS} processes, shm:`;
    row(seedShm, "gets/s", ours.seed, pySeed, { note: perProcess(ours) });
    row(seedShm, "gets/s", ours.seed, pySeedShm);
  }

  out.note(
    "every party is a separate OS process: procshare's unix: server in the bench process, its clients in children " +
      'spawned with { as: "process" }; shm: structures are made by the bench process and mapped by the children ' +
      "(no server); Python's Manager server is its own process, the clients python_processes.py and its children",
  );
  out.note(
    "shm: rows use the Sync twins (getSync, putSync/getSync, acquireSync/releaseSync, addSync) unless marked " +
      "async; the threads baseline of getSync is the same worker spawned as a worker thread on a shared-buffer: " +
      "manager, in this run",
  );
  out.note(
    "processes calling at once (value.add, seed 000) start at a Barrier and time windows whole (time waiting for " +
      "a CPU counts); the figure is the sum of their rates; where one process times (dict get, the queue " +
      "consumer, the ping-pong side that gives ping, the lock pairs) it does as A, B2 and B4 do (median of ~1 ms " +
      "batches), and so does its Python twin",
  );
  out.note(
    `queue: maxsize ${QUEUE_MAXSIZE}, the producer puts 0,1,2,… until stopped, the consumer times its gets and ` +
      "checks the order; Python's mp.Queue is a pipe fed by a thread of the producer, not a server",
  );
  out.note(
    "ping-pong: two primitives that start taken, one side gives ping and takes pong, the other the reverse; " +
      "a round trip is 2 hand-offs. Python: 2 mp.Lock (binary semaphores, released by the other process); " +
      "procshare: 2 semaphores of 0, since a procshare Lock refuses a release by a process that does not hold it",
  );
  out.note(
    `value.add: the total is checked against the adds counted; seed 000: ${KEYS.length} string keys ("key:0"…), ` +
      "string values, read round-robin; the shared_memory hash is seed 000's immutable mmap dict (read-only)",
  );
  if (typeof shm === "string") out.note(`shm: ${shm}`);
  if (typeof py !== "string") {
    out.note(`Python ${py.python} (${py.start_method})`);
  }
}
