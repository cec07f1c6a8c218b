/**
 * Section C of procshare's benchmark: between OS processes. Every party of a
 * case (client and server, producer and consumer, the two sides of a
 * ping-pong, the adders, the readers) is a separate OS process, never a
 * worker thread; each procshare figure is printed beside a Python
 * `multiprocessing` baseline measured in the same run
 * (`python_processes.py`), with their ratio.
 *
 * procshare runs on `unix:` (a socket manager served by the bench process,
 * clients in child processes started by `spawn(url, { as: "process" })`).
 * The `shm:` transport (issue 9) is not built yet: its rows go beside these
 * when it is, and the targets of issue 9's acceptance 7 and 8 are printed as
 * a note, since they apply to `shm:`, not to `unix:`.
 * @module
 */
import { execFile } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Manager, spawn, type Spawned } from "../../mod.ts";
import { type BenchOptions, fmtDuration, fmtRate, type Sample, sampleOf } from "./_harness.ts";
import { KEYS } from "./workers/_keys.ts";
import type { ProcResult } from "./workers/_proc.ts";
import type procDictGet from "./workers/proc_dict_get.ts";
import type procQueue from "./workers/proc_queue.ts";
import type procPingPong from "./workers/proc_pingpong.ts";
import type procValueAdd from "./workers/proc_value_add.ts";

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

type PyKey = "dict_get" | "queue_stream" | "lock_pingpong" | "value_add" | "seed_manager" | "seed_shm";

interface PythonProcesses {
  readonly python: string;
  readonly start_method: string;
  readonly results: Partial<Record<PyKey, Sample>>;
}

function runPython(o: BenchOptions): Promise<PythonProcesses | string> {
  const args = [
    path.join(HERE, "python_processes.py"),
    "--budget",
    String(o.budgetMs / 1000),
    "--warmup",
    String(o.warmupMs / 1000),
    "--reps",
    String(o.reps),
    "--keys",
    String(KEYS.length),
  ];
  return new Promise((resolve) => {
    execFile("python3", args, { cwd: ROOT, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") return resolve("skipped: python3 not found");
      if (err) return resolve(`skipped: python3 failed: ${String(stderr || err.message).trim().split("\n").pop()}`);
      try {
        resolve(JSON.parse(stdout) as PythonProcesses);
      } catch {
        resolve(`skipped: python3 printed no JSON: ${stdout.slice(0, 200)}`);
      }
    });
  });
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
  readonly dictGet: Sample;
  readonly queueStream: Sample;
  readonly pingPong: Sample;
  readonly valueAdd: Sample;
  readonly seed: Sample;
  readonly seedPerProcess: readonly number[];
}

/**
 * Every procshare case on a manager started on `transport`. The slot for
 * `shm:`: once `Manager.start({ transport: "shm:" })` works, run this with
 * "shm:" beside the `unix:` run, and give the workers their Sync twins
 * (`getSync`, `putSync`/`getSync`, `acquireSync`, `addSync`) for its rows.
 */
async function procshareOn(transport: string, o: BenchOptions): Promise<Ours> {
  const m = await Manager.start({ transport });
  try {
    const dict = await m.dict<string, string>(new Map(KEYS.map((k, i) => [k, `value:${i}`])));

    // dict get from another process
    const dictGet = (await spawn<typeof procDictGet>(worker("proc_dict_get"), { as: "process", args: [dict, o, 0] })
      .join()).sample;

    // queue stream: producer process → consumer process
    const queue = await m.queue<number>(QUEUE_MAXSIZE);
    const producer = spawn<typeof procQueue>(worker("proc_queue"), { as: "process", args: [queue, "producer", o] });
    const consumer = spawn<typeof procQueue>(worker("proc_queue"), { as: "process", args: [queue, "consumer", o] });
    const queueStream = (await until(consumer, producer))!.sample;

    // ping-pong through two semaphores
    const ping = await m.semaphore(0), pong = await m.semaphore(0);
    const echo = spawn<typeof procPingPong>(worker("proc_pingpong"), { as: "process", args: [ping, pong, "echo", o] });
    const timer = spawn<typeof procPingPong>(worker("proc_pingpong"), {
      as: "process",
      args: [ping, pong, "timer", o],
    });
    const pingPong = doubled((await until(timer, echo))!.sample);

    // value.add from 2 processes
    const value = await m.value("i", 0);
    const barrier2 = await m.barrier(2), done2 = await m.value("i", 0);
    const adders = await Promise.all(
      [0, 1].map(() =>
        spawn<typeof procValueAdd>(worker("proc_value_add"), { as: "process", args: [value, o, barrier2, done2, 2] })
          .join()
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
          args: [dict, o, (r * KEYS.length / SEED_READERS) | 0, barrier4, done4, SEED_READERS],
        }).join()),
    );
    return {
      dictGet,
      queueStream,
      pingPong,
      valueAdd,
      seed: summed(readers),
      seedPerProcess: readers.map((r) => r.sample.median),
    };
  } finally {
    await m.shutdown();
  }
}

// ---- the section ----

/** Runs section C: the Python baselines first (unless `python` is false), then procshare `unix:`. */
export async function sectionC(o: BenchOptions, python: boolean, out: ProcessOutput): Promise<void> {
  const py = python ? await runPython(o) : "skipped: --no-python";
  const ours = await procshareOn(`unix:${socketPath()}`, o);
  const vs = (key: PyKey, baseline: string) => {
    const s = typeof py === "string" ? undefined : py.results[key];
    return s
      ? { baseline, baselineFigure: s.median, baselineSamples: s.samples }
      : { baseline, note: typeof py === "string" ? py : "missing from python_processes.py's output" };
  };
  const row = (name: string, unit: string, s: Sample, base: ReturnType<typeof vs>, note?: string) =>
    out.row({
      section: "C",
      name,
      figure: s.median,
      unit,
      samples: s.samples,
      ...base,
      ...(note !== undefined && !("note" in base) ? { note } : {}),
    });

  row(
    "dict.get (async), unix:",
    "ops/s",
    ours.dictGet,
    vs("dict_get", "Python Manager().dict() get"),
    `${fmtDuration(1 / ours.dictGet.median)}/op`,
  );
  row(
    "queue put → get stream, unix:",
    "items/s",
    ours.queueStream,
    vs("queue_stream", `Python mp.Queue(${QUEUE_MAXSIZE}) stream`),
  );
  row(
    "ping-pong hand-offs, unix: (2 semaphores)",
    "hand-offs/s",
    ours.pingPong,
    vs("lock_pingpong", "Python 2 × mp.Lock ping-pong"),
    `1 per ${fmtDuration(1 / ours.pingPong.median)}`,
  );
  row(
    "value.add(1) from 2 processes, unix:",
    "adds/s",
    ours.valueAdd,
    vs("value_add", "Python mp.Value locked += 1, 2 processes"),
  );
  const seedNote = `medians per process: ${ours.seedPerProcess.map(fmtRate).join(", ")}`;
  row(
    `seed 000: dict.get from ${SEED_READERS} processes, unix:`,
    "gets/s",
    ours.seed,
    vs("seed_manager", `Python Manager().dict() get, ${SEED_READERS} processes`),
    seedNote,
  );
  row(
    `seed 000: dict.get from ${SEED_READERS} processes, unix:`,
    "gets/s",
    ours.seed,
    vs("seed_shm", `Python shared_memory hash, ${SEED_READERS} processes`),
  );

  out.note(
    "every party is a separate OS process: procshare's unix: server in the bench process, its clients in children " +
      'spawned with { as: "process" }; Python\'s Manager server is its own process, the clients python_processes.py ' +
      "and its children",
  );
  out.note(
    "processes calling at once (value.add, seed 000) start at a Barrier and time windows whole (time waiting for " +
      "a CPU counts); the figure is the sum of their rates; where one process times (dict get, the queue " +
      "consumer, the ping-pong side that gives ping) it does as A and B2 do (median of ~1 ms batches), and so " +
      "does its Python twin",
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
  out.note(
    "shm: not built yet — its rows go here: dict.getSync and dict.get from another process, queue stream, " +
      "acquireSync/releaseSync hand-off, Value.addSync from 2 processes, seed 000 with 4 processes",
  );
  out.note(
    "targets apply to shm:, not built yet (issue 9, acceptance 7): dict.getSync ≥ 100× Python Manager get and " +
      "≥ 0.7× getSync between threads on shared-buffer:; async dict.get ≥ 30× Python Manager; queue stream ≥ 10× " +
      "mp.Queue; uncontended acquireSync/releaseSync ≥ 10M pairs/s; contended hand-off ≥ 100k/s; " +
      "Value.addSync from 2 processes ≥ mp.Value",
  );
  if (typeof py !== "string") {
    out.note(`Python ${py.python} (${py.start_method})`);
  }
}
