/**
 * `Pool`: Python's `multiprocessing.Pool` for a module's exported function,
 * on long-lived worker threads or child processes, with procshare
 * structures among task arguments and results; and, unlike Python's, a
 * worker that dies mid-task fails that task and is replaced.
 *
 * @example Squaring numbers on four processes
 * ```ts
 * import { Pool } from "./pool.ts";
 * // square.ts: export default (n: number) => n * n;
 * await using pool = await Pool.start<(n: number) => number>(new URL("./square.ts", import.meta.url), {
 *   size: 4,
 *   as: "process",
 * });
 * console.log(await pool.map([1, 2, 3])); // [1, 4, 9]
 * ```
 * @module
 */
import { spawn as spawnChild } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { fromWire, toWire } from "../attach.ts";
import { hasHandle } from "../core/backend.ts";
import { WorkerError } from "../errors.ts";
import { listenForNames } from "../structures/_shm_names.ts";
import { decode, encode } from "../transports/_codec.ts";
import { frame, FrameDecoder } from "../transports/_frame.ts";
import { isTypeScript, runtime, runtimeCommand } from "../transports/_runtime/runtime.ts";
import {
  markDead,
  registryBuffer,
  requestStop,
  reserveWorkerId,
  stopRequested,
} from "../transports/_runtime/threads.ts";
import {
  findSharedBuffer,
  packageModule,
  rebuildError,
  received,
  type SerializedError,
  signalNumber,
} from "./_protocol.ts";
import {
  type DoneMessage,
  type FromWorker,
  isMessage,
  packNumbers,
  POOL_ENV,
  POOL_KEY_ENV,
  POOL_TAG,
  type PoolStart,
  type PoolThreadStart,
  type ToWorker,
} from "./_pool_protocol.ts";
import type { SpawnAs, WorkerFunction } from "./spawn.ts";
import { childChannels, threadChannels } from "../transports/pipe/_hub.ts";

/**
 * Options of {@linkcode Pool.start}.
 *
 * @example A process pool whose workers open a connection once
 * ```ts
 * import type { PoolOptions } from "./pool.ts";
 * const options: PoolOptions = {
 *   size: 2,
 *   as: "process",
 *   export: "resize",
 *   initializer: "connect",
 *   initArgs: ["postgres://db"],
 *   maxTasksPerChild: 1_000,
 * };
 * console.log(options.as);
 * ```
 */
export interface PoolOptions {
  /** Number of workers; default: the available parallelism (`os.availableParallelism()`). */
  readonly size?: number;
  /** `"thread"` (default) or `"process"`, as for `spawn`. */
  readonly as?: SpawnAs;
  /** Name of the module's export that runs each task; default `"default"`. */
  readonly export?: string;
  /**
   * Name of an export of the same module that each worker runs once, with
   * `initArgs`, before its first task (Python's `initializer`; a function
   * cannot cross to a worker, so it is named). Awaited when it returns a promise.
   */
  readonly initializer?: string;
  /** Arguments of the initializer; structures travel as for tasks. */
  readonly initArgs?: readonly unknown[];
  /**
   * Tasks a worker runs before it is replaced by a fresh one (Python's
   * `maxtasksperchild`); unlimited by default. As in Python, one chunk of
   * `map` is one task.
   */
  readonly maxTasksPerChild?: number;
  /** Variables added to the workers' copy of the environment. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Progress of a `map`, `starmap` or `imap`: items finished (with a result
 * or an error) and items in all.
 *
 * @example A terminal progress line
 * ```ts
 * import type { PoolProgress } from "./pool.ts";
 * const show = ({ done, total }: PoolProgress) => process.stdout.write(`\r${done}/${total}`);
 * show({ done: 3, total: 10 });
 * ```
 */
export interface PoolProgress {
  readonly done: number;
  readonly total: number;
}

/**
 * Options of `map`, `starmap`, `imap` and `imapUnordered`.
 *
 * @example Chunks of 100, cancellable, with progress
 * ```ts
 * import type { MapOptions } from "./pool.ts";
 * const options: MapOptions = {
 *   chunksize: 100,
 *   signal: AbortSignal.timeout(60_000),
 *   onProgress: ({ done, total }) => console.log(done, total),
 * };
 * console.log(options.chunksize);
 * ```
 */
export interface MapOptions {
  /**
   * Items sent to a worker in one message. Default for `map` and `starmap`:
   * as Python's, `ceil(items / (4 × size))`; for `imap` and
   * `imapUnordered`: 1.
   */
  readonly chunksize?: number;
  /**
   * Aborting it rejects the call (or ends the iteration) with a
   * `WorkerError` of reason `"Terminated"` whose `cause` is the signal's
   * reason; items not yet sent are dropped, and a worker running one of
   * them is terminated and replaced.
   */
  readonly signal?: AbortSignal;
  /** Called after each chunk with the items finished so far and the total. */
  readonly onProgress?: (progress: PoolProgress) => void;
}

/**
 * Options of {@linkcode Pool.applyAsync}.
 *
 * @example Giving a task five seconds
 * ```ts
 * import type { ApplyOptions } from "./pool.ts";
 * const options: ApplyOptions = { timeout: 5_000 };
 * console.log(options.timeout);
 * ```
 */
export interface ApplyOptions {
  /**
   * Milliseconds the task may take, queueing included: then the promise
   * rejects with a `WorkerError` of reason `"Terminated"` and the task is
   * dropped, its worker terminated and replaced if it was running it.
   */
  readonly timeout?: number;
  /** Aborting it does the same, with the signal's reason as the error's `cause`. */
  readonly signal?: AbortSignal;
}

/**
 * One worker of {@linkcode PoolStats}.
 *
 * @example Printing how busy each worker was
 * ```ts
 * import type { PoolWorkerStats } from "./pool.ts";
 * const w: PoolWorkerStats = { pid: 4242, threadId: undefined, tasksDone: 10, busyMs: 12.5 };
 * console.log(`${w.pid}: ${w.tasksDone} tasks, busy ${w.busyMs} ms`);
 * ```
 */
export interface PoolWorkerStats {
  /** Process id of a process worker; `undefined` for a thread. */
  readonly pid: number | undefined;
  /** Thread id of a thread worker; `undefined` for a process. */
  readonly threadId: number | undefined;
  /** Items this worker finished. */
  readonly tasksDone: number;
  /** Milliseconds this worker spent running tasks (as it measured them). */
  readonly busyMs: number;
}

/**
 * A snapshot of a pool's counters (see {@linkcode Pool.stats}).
 *
 * @example Watching a queue drain
 * ```ts
 * import type { PoolStats } from "./pool.ts";
 * const report = (s: PoolStats) => `${s.tasksDone} done, ${s.queueDepth} queued, ${s.workers.length} workers`;
 * console.log(report({ tasksDone: 5, tasksFailed: 0, queueDepth: 2, running: 1, workersStarted: 2, workers: [] }));
 * ```
 */
export interface PoolStats {
  /** Items finished with a result, since the start. */
  readonly tasksDone: number;
  /** Items finished with an error (thrown, or their worker died), since the start. */
  readonly tasksFailed: number;
  /** Items waiting for a worker. */
  readonly queueDepth: number;
  /** Items sent to a worker and not yet answered. */
  readonly running: number;
  /** Workers started since the start, replacements included. */
  readonly workersStarted: number;
  /** The live workers. */
  readonly workers: readonly PoolWorkerStats[];
}

/** A task's or item's outcome. */
type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

/**
 * Chunks a worker may have been sent and not answered: one running, one
 * waiting beside it, so that it never waits for the pool between two.
 */
const PREFETCH = 2;
/**
 * Chunks a worker may hold while its chunks take under
 * {@linkcode QUICK_CHUNK_MS} each: the round trip to the pool then costs more
 * than a chunk (more so on a busy machine), so more are queued in the worker,
 * as Python's Pool queues every chunk at once.
 */
const PREFETCH_QUICK = 8;
/** A chunk that takes less than this, on average, is quick (see {@linkcode PREFETCH_QUICK}). */
const QUICK_CHUNK_MS = 1;

/** How long a thread terminated on Deno has to read the stop message (as spawn). */
const DENO_STOP_GRACE_MS = 250;

const ENTRY = packageModule("./_pool_worker");
const BOOTSTRAP = new URL("./_bootstrap.mjs", import.meta.url);

function defaultSize(): number {
  try {
    return os.availableParallelism();
  } catch {
    return Math.max(1, globalThis.navigator?.hardwareConcurrency ?? 1);
  }
}

/** Whether no item is an object (so none holds a structure). */
function holdsNoObject(items: readonly unknown[]): boolean {
  for (let i = 0; i < items.length; i++) {
    const x = items[i];
    if (typeof x === "object" && x !== null) return false;
  }
  return true;
}

function positiveInteger(what: string, name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) {
    throw new TypeError(`Cannot ${what} as '${name}' must be a positive integer: received ${received(v)}`);
  }
  return v;
}

/** One `map`, `imap`, `apply`…: its items and where their outcomes go. */
class Batch {
  done = 0;
  settled = false;
  #cleanup: Array<() => void> = [];
  constructor(
    readonly total: number,
    /** Gets every item's outcome, once, in the order they arrive. */
    readonly onItem: (index: number, outcome: Outcome) => void,
    /** The batch ends early (abort, timeout, terminate): nothing more arrives. */
    readonly onCancel: (error: unknown) => void,
    readonly onProgress?: (progress: PoolProgress) => void,
    /**
     * Gets a chunk's values at once, all ok, from `first` (`done` already
     * counts them); without it, `onItem` gets each. Spares a `map` a call per item.
     */
    readonly onValues?: (first: number, values: ArrayLike<unknown>) => void,
  ) {}
  addCleanup(f: () => void): void {
    this.#cleanup.push(f);
  }
  /** No more outcomes are wanted. */
  finish(): void {
    if (this.settled) return;
    this.settled = true;
    for (const f of this.#cleanup.splice(0)) f();
  }
}

/** A chunk of a batch: what one {@linkcode TaskMessage} carries. */
interface Job {
  readonly id: number;
  readonly batch: Batch;
  /** Index in the batch of the first item. */
  readonly first: number;
  readonly items: readonly unknown[];
  readonly wired: boolean;
  readonly star: boolean;
  /** The task message, framed, for a process worker. */
  readonly bytes: Uint8Array | undefined;
}

/**
 * Jobs waiting for a worker, first in first out, with O(1) `shift` (a
 * `map` of 100,000 items in chunks of 1 queues 100,000 jobs) and a count of
 * the items they hold.
 */
class JobQueue {
  #jobs: Job[] = [];
  #head = 0;
  /** Items of the queued jobs. */
  items = 0;
  get length(): number {
    return this.#jobs.length - this.#head;
  }
  push(job: Job): void {
    this.#jobs.push(job);
    this.items += job.items.length;
  }
  shift(): Job | undefined {
    if (this.#head >= this.#jobs.length) return undefined;
    const job = this.#jobs[this.#head];
    this.#jobs[this.#head++] = undefined as never;
    if (this.#head >= 1024 && this.#head * 2 >= this.#jobs.length) {
      this.#jobs = this.#jobs.slice(this.#head);
      this.#head = 0;
    }
    this.items -= job.items.length;
    return job;
  }
  /** Puts `jobs` back in front, in their order (those a dead worker had not started). */
  unshift(jobs: readonly Job[]): void {
    if (jobs.length === 0) return;
    this.#jobs = [...jobs, ...this.#jobs.slice(this.#head)];
    this.#head = 0;
    for (const j of jobs) this.items += j.items.length;
  }
  /** Drops the jobs of `batch`. */
  remove(batch: Batch): void {
    this.#jobs = this.#jobs.slice(this.#head).filter((j) => j.batch !== batch);
    this.#head = 0;
    this.items = 0;
    for (const j of this.#jobs) this.items += j.items.length;
  }
  /** Empties the queue and returns what it held. */
  drain(): Job[] {
    const out = this.#jobs.slice(this.#head);
    this.#jobs = [];
    this.#head = 0;
    this.items = 0;
    return out;
  }
}

/** How the pool reaches one worker, thread or process. */
interface Link {
  send(m: ToWorker): void;
  /** Sends a job's task message. */
  sendTask(job: Job): void;
  /** Ends the worker now. */
  kill(): void;
  ref(on: boolean): void;
}

/** One worker, from its start to its exit. */
class Slot {
  link: Link | undefined;
  state: "starting" | "ready" | "exiting" | "dead" = "starting";
  readonly inflight: Job[] = [];
  sent = 0;
  tasksDone = 0;
  chunksDone = 0;
  /** Milliseconds the worker reported running tasks. */
  busyMs = 0;
  pid: number | undefined;
  threadId: number | undefined;
  /** Error the worker reported (fatal, failed) or raised, before it exited. */
  error: unknown;
  /** Why the pool ended it, when it did. */
  endedBy: "terminate" | "abort" | undefined;
  /** A process worker's connection arrived. */
  attach: ((socket: net.Socket) => void) | undefined;
  readonly ready: Promise<void>;
  resolveReady!: () => void;
  rejectReady!: (e: unknown) => void;
  constructor() {
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {});
  }
}

/**
 * A pool of long-lived workers (threads or child processes) running an
 * exported function of one module on many inputs: Python's
 * `multiprocessing.Pool`, awaited. Start it with {@linkcode Pool.start};
 * dispose it (`await using`) or call `close()` then `join()`, or
 * `terminate()`.
 *
 * Items, arguments and results are those `spawn` accepts: for threads,
 * anything structured-clone can copy; for processes, plain data (procshare's
 * codec). Structures (a Dict, a Queue, a Lock…) among them, at any depth of
 * arrays and plain objects, travel as handles and arrive attached, on every
 * transport that can reach the workers (a shared-buffer structure only to
 * threads).
 *
 * A task that throws rejects that task only (for `map`, the call), with a
 * `WorkerError` of reason `"Error"` whose `cause` is the task's error. A
 * worker that dies while it runs a chunk (it crashed, called
 * `process.exit`, or was killed by a signal) fails that chunk's items with a
 * `WorkerError` of reason `"Exit"` (`exitCode` minus the signal number for a
 * signal, −9 for SIGKILL), or `"Error"` when an uncaught error killed it;
 * the pool starts a replacement and carries on (Python's Pool hangs there).
 * Items it had been sent but had not started go to other workers.
 *
 * Workers run one chunk at a time; each is sent at most two (eight while
 * its chunks take under a millisecond), so that the next is at hand when
 * one finishes; chunks a dead worker had not started go to the others.
 *
 * Aborting a running task (a `signal`, a `timeout`) terminates its worker,
 * as `spawn`'s `terminate()` does, with the same caveat: on Deno a thread
 * busy in a loop halts only at its next procshare call. Use
 * `as: "process"` for work that may have to be stopped while it computes.
 *
 * @example The seed's Pool over a shared dict
 * ```ts
 * import { Manager, Pool } from "../mod.ts";
 * // writer.ts: export default async (d) => { await d.set(process.pid, `written by ${process.pid}`); };
 * await using manager = await Manager.start({ transport: "unix:/tmp/pool-doc.sock" });
 * const d = await manager.dict<number, string>();
 * await using pool = await Pool.start(new URL("./writer.ts", import.meta.url), { as: "process" });
 * await pool.map(Array(10).fill(d));
 * console.log(await d.entries());
 * ```
 */
export class Pool<F extends WorkerFunction = WorkerFunction> implements AsyncDisposable {
  readonly #url: URL;
  readonly #name: string;
  readonly #as: SpawnAs;
  readonly #size: number;
  readonly #start: PoolStart;
  readonly #maxTasks: number;
  readonly #env: Readonly<Record<string, string>> | undefined;
  readonly #slots = new Set<Slot>();
  /** Jobs waiting for a worker, in order. */
  readonly #queue = new JobQueue();
  #nextJob = 0;
  #tasksDone = 0;
  #tasksFailed = 0;
  #workersStarted = 0;
  #closed = false;
  #terminated = false;
  /** Why no worker can be started any more. */
  #broken: WorkerError | undefined;
  // process workers
  #dir: string | undefined;
  #server: net.Server | undefined;
  readonly #keys = new Map<string, Slot>();
  readonly #allExited: Promise<void>;
  #markAllExited!: () => void;

  private constructor(url: URL, o: PoolOptions, size: number, maxTasks: number, initArgs: unknown[]) {
    this.#url = url;
    this.#name = path.basename(fileURLToPath(url));
    this.#as = o.as ?? "thread";
    this.#size = size;
    this.#maxTasks = maxTasks;
    this.#env = o.env;
    const wire = this.#as === "process" ? this.#processWire(initArgs, "initArgs") : toWire(initArgs);
    this.#start = {
      url: url.href,
      export: o.export ?? "default",
      initializer: o.initializer ?? null,
      initArgs: wire,
      initWired: wire.some((x, i) => x !== initArgs[i]),
    };
    this.#allExited = new Promise((resolve) => (this.#markAllExited = resolve));
  }

  /**
   * Starts `size` workers on the module at `url` and resolves once each has
   * loaded it (and run the initializer). Rejects with a `WorkerError` of
   * reason `"Spawn"` when a worker cannot start, load the module, find the
   * export or run the initializer; throws a `TypeError` for bad options.
   *
   * @example A thread pool over a named export
   * ```ts
   * import { Pool } from "./pool.ts";
   * // text.ts: export function upper(s: string) { return s.toUpperCase(); }
   * await using pool = await Pool.start<(s: string) => string>(new URL("./text.ts", import.meta.url), {
   *   export: "upper",
   * });
   * console.log(await pool.apply("abc")); // ABC
   * ```
   */
  static async start<F extends WorkerFunction = WorkerFunction>(
    url: URL | string,
    options?: PoolOptions,
  ): Promise<Pool<F>> {
    let u: URL;
    if (url instanceof URL) u = url;
    else if (typeof url === "string" && url !== "") {
      u = /^[a-z][a-z0-9+.-]+:/i.test(url) ? new URL(url) : pathToFileURL(path.resolve(url));
    } else throw new TypeError(`Cannot start pool as 'url' must be a URL or a file path: received ${received(url)}`);
    if (u.protocol !== "file:") {
      throw new TypeError(`Cannot start pool as 'url' must be a file: URL: received ${u.href}`);
    }
    if (options !== undefined && (typeof options !== "object" || options === null)) {
      throw new TypeError(`Cannot start pool as 'options' must be an object: received ${received(options)}`);
    }
    const o = options ?? {};
    const size = o.size === undefined ? defaultSize() : positiveInteger("start pool", "size", o.size);
    const maxTasks = o.maxTasksPerChild === undefined
      ? Infinity
      : positiveInteger("start pool", "maxTasksPerChild", o.maxTasksPerChild);
    if (o.as !== undefined && o.as !== "thread" && o.as !== "process") {
      throw new TypeError(`Cannot start pool as 'as' must be "thread" or "process": received ${received(o.as)}`);
    }
    for (const k of ["export", "initializer"] as const) {
      if (o[k] !== undefined && (typeof o[k] !== "string" || o[k] === "")) {
        throw new TypeError(`Cannot start pool as '${k}' must be an export name: received ${received(o[k])}`);
      }
    }
    const initArgs = o.initArgs ?? [];
    if (!Array.isArray(initArgs)) {
      throw new TypeError(`Cannot start pool as 'initArgs' must be an array: received ${received(initArgs)}`);
    }
    if (o.env !== undefined) {
      if (typeof o.env !== "object" || o.env === null) {
        throw new TypeError(`Cannot start pool as 'env' must be an object of strings: received ${received(o.env)}`);
      }
      for (const [k, v] of Object.entries(o.env)) {
        if (typeof v !== "string") {
          throw new TypeError(`Cannot start pool as 'env.${k}' must be a string: received ${received(v)}`);
        }
      }
    }
    const pool = new Pool<F>(u, o, size, maxTasks, initArgs);
    if (!fs.existsSync(fileURLToPath(u))) {
      throw new WorkerError("Spawn", `Cannot start pool as its module does not exist: received ${fileURLToPath(u)}`);
    }
    await pool.#open();
    return pool;
  }

  async #open(): Promise<void> {
    if (this.#as === "process") {
      this.#dir = fs.mkdtempSync(path.join(os.tmpdir(), "procshare-pool-"));
      // a pool left open when the program exits leaves no directory behind
      process.on("exit", this.#removeDir);
      const server = net.createServer((socket) => this.#accept(socket));
      this.#server = server;
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(path.join(this.#dir!, "pool.sock"), () => {
          server.off("error", reject);
          resolve();
        });
      });
      server.unref();
    } else {
      listenForNames();
    }
    const slots = Array.from({ length: this.#size }, () => this.#spawn());
    try {
      await Promise.all(slots.map((s) => s.ready));
    } catch (e) {
      await this.terminate();
      throw e;
    }
  }

  /** Wire form of arguments for a process, refusing what cannot cross. */
  #processWire(args: readonly unknown[], name: string): unknown[] {
    const wire = toWire(args);
    for (let i = 0; i < wire.length; i++) {
      const found = findSharedBuffer(wire[i], `${name}[${i}]`);
      if (found !== undefined) {
        const arg = args[i];
        const what = hasHandle(arg) ? `a ${arg.handle.kind} on the ${arg.handle.via} transport` : received(arg);
        throw new TypeError(
          `Cannot send to pool process as '${
            found.split(".__procshare_handle__")[0]
          }' holds a SharedArrayBuffer, which cannot cross processes (use a socket transport, or as: "thread"): received ${what}`,
        );
      }
    }
    return wire;
  }

  // ---------------------------------------------------------------------------
  // Workers

  #spawn(): Slot {
    const slot = new Slot();
    this.#slots.add(slot);
    this.#workersStarted++;
    try {
      if (this.#as === "thread") this.#startThread(slot);
      else this.#startProcess(slot);
    } catch (e) {
      slot.error = e;
      queueMicrotask(() => this.#exited(slot, undefined));
    }
    return slot;
  }

  #startThread(slot: Slot): void {
    const id = reserveWorkerId();
    const start: PoolThreadStart = {
      ...this.#start,
      tag: POOL_TAG,
      registry: registryBuffer(),
      id,
      entry: ENTRY.href,
      typescript: runtime === "node" && (isTypeScript(ENTRY) || isTypeScript(this.#url)),
    };
    const channels = threadChannels(); // the pipe: managers of this thread, one port each
    let worker: Worker;
    try {
      worker = new Worker(BOOTSTRAP, {
        ...(channels.transfer.length === 0
          ? { workerData: start }
          : { workerData: { ...start, ...channels.data }, transferList: [...channels.transfer] }),
        env: this.#env ? { ...process.env, ...this.#env } : undefined,
      });
    } catch (e) {
      channels.release();
      markDead(id);
      throw e;
    }
    slot.threadId = worker.threadId;
    worker.on("message", (m: unknown) => {
      if (isMessage(m)) this.#message(slot, m as FromWorker);
    });
    worker.on("error", (e: unknown) => {
      slot.error ??= e;
    });
    worker.on("exit", (code: number) => {
      if (!stopRequested(id)) markDead(id);
      channels.release();
      this.#exited(slot, code);
    });
    slot.link = {
      send: (m) => worker.postMessage(m),
      sendTask: (job) => {
        // packed afresh at each send (a job goes again to another worker when its worker dies): moved, not copied
        const packed = job.wired || job.star ? undefined : packNumbers(job.items);
        worker.postMessage(
          { t: "task", id: job.id, items: packed ?? job.items, wired: job.wired, star: job.star } satisfies ToWorker,
          packed ? [packed.buffer as ArrayBuffer] : [],
        );
      },
      kill: () => {
        if (runtime !== "deno") return void worker.terminate();
        requestStop(id);
        try {
          worker.postMessage({ t: "stop" } satisfies ToWorker);
        } catch {
          // already gone
        }
        const later = setTimeout(() => void worker.terminate(), DENO_STOP_GRACE_MS);
        worker.once("exit", () => clearTimeout(later));
      },
      ref: (on) => on ? worker.ref() : worker.unref(),
    };
  }

  #startProcess(slot: Slot): void {
    const key = randomBytes(16).toString("hex");
    this.#keys.set(key, slot);
    const { command, args } = runtimeCommand(ENTRY, { typescript: isTypeScript(ENTRY) || isTypeScript(this.#url) });
    const channels = childChannels(); // the pipe: managers of this thread, one descriptor each
    const child: ChildProcess = spawnChild(command, [...args], {
      stdio: ["ignore", "inherit", "inherit", ...channels.stdio],
      env: {
        ...process.env,
        ...this.#env,
        ...channels.env,
        [POOL_ENV]: path.join(this.#dir!, "pool.sock"),
        [POOL_KEY_ENV]: key,
      },
    });
    channels.attach(child.stdio);
    slot.pid = child.pid;
    let socket: net.Socket | undefined;
    let pending: Uint8Array[] = [];
    const write = (bytes: Uint8Array) => {
      if (socket) socket.write(bytes);
      else pending.push(bytes);
    };
    let refd = true;
    slot.link = {
      send: (m) => write(frame(encode(m))),
      sendTask: (job) => write(job.bytes!),
      kill: () => void child.kill("SIGTERM"),
      ref: (on) => {
        refd = on;
        if (on) {
          child.ref();
          socket?.ref();
        } else {
          child.unref();
          socket?.unref();
        }
      },
    };
    slot.attach = (s) => {
      socket = s;
      if (!refd) s.unref();
      for (const bytes of pending) s.write(bytes);
      pending = [];
    };
    child.on("error", (e) => {
      slot.error ??= e;
      if (child.pid === undefined) this.#exited(slot, undefined);
    });
    child.on("exit", (code, signal) => {
      this.#keys.delete(key);
      socket?.destroy();
      this.#exited(slot, code ?? -signalNumber(signal ?? ""));
    });
  }

  /** A child process connected: its hello names its slot. */
  #accept(socket: net.Socket): void {
    const decoder = new FrameDecoder();
    let slot: Slot | undefined;
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: Uint8Array) => {
      try {
        decoder.push(chunk, (payload) => {
          const m = decode(payload);
          if (!isMessage(m)) return;
          if (slot === undefined) {
            const hello = m as { t: string; key?: unknown };
            const s = hello.t === "hello" && typeof hello.key === "string" ? this.#keys.get(hello.key) : undefined;
            if (s === undefined || s.attach === undefined) {
              socket.destroy();
              return false;
            }
            slot = s;
            this.#keys.delete(hello.key as string);
            slot.attach!(socket);
            socket.write(frame(encode({ t: "start", start: this.#start } satisfies ToWorker)));
            return;
          }
          this.#message(slot, m as FromWorker);
        });
      } catch {
        socket.destroy();
      }
    });
  }

  #message(slot: Slot, m: FromWorker): void {
    switch (m.t) {
      case "ready":
        if (slot.state !== "starting") return;
        slot.state = "ready";
        slot.resolveReady();
        this.#setBusy(slot);
        if (this.#closed && this.#queue.length === 0) this.#retire(slot);
        else this.#dispatch();
        return;
      case "failed":
      case "fatal":
        slot.error ??= rebuildError(m.error);
        return;
      case "done":
        this.#done(slot, m);
        return;
    }
  }

  /**
   * Keeps the event loop alive only while a worker starts, works or exits:
   * an idle pool that was never closed does not keep the program running.
   */
  #setBusy(slot: Slot): void {
    if (slot.state !== "dead") slot.link?.ref(slot.inflight.length > 0 || slot.state !== "ready");
  }

  /** How many chunks `slot` may hold: more while its chunks are quick. */
  #depth(slot: Slot): number {
    if (slot.chunksDone === 0) return PREFETCH;
    return slot.busyMs < slot.chunksDone * QUICK_CHUNK_MS ? PREFETCH_QUICK : PREFETCH;
  }

  /** Sends queued jobs to ready workers with room. */
  #dispatch(): void {
    while (this.#queue.length > 0) {
      let best: Slot | undefined;
      for (const s of this.#slots) {
        if (s.state !== "ready" || s.inflight.length >= this.#depth(s) || s.sent >= this.#maxTasks) continue;
        if (best === undefined || s.inflight.length < best.inflight.length) best = s;
        if (s.inflight.length === 0) break;
      }
      if (best === undefined) return;
      const job = this.#queue.shift()!;
      if (job.batch.settled) continue;
      best.inflight.push(job);
      best.sent++;
      this.#setBusy(best);
      try {
        best.link!.sendTask(job);
      } catch (e) {
        // a thread refuses what structured clone cannot copy: this job fails, the worker is fine
        best.inflight.pop();
        best.sent--;
        this.#setBusy(best);
        this.#failJob(
          job,
          new TypeError(`Cannot send task to pool thread as it cannot be cloned: ${(e as Error).message}`, {
            cause: e,
          }),
        );
      }
    }
  }

  #done(slot: Slot, m: DoneMessage): void {
    const i = slot.inflight.findIndex((j) => j.id === m.id);
    if (i < 0) return;
    const [job] = slot.inflight.splice(i, 1);
    this.#setBusy(slot);
    slot.tasksDone += m.values.length;
    slot.chunksDone++;
    slot.busyMs += typeof m.ms === "number" ? m.ms : 0;
    const n = m.values.length;
    this.#tasksFailed += m.errors.length;
    this.#tasksDone += n - m.errors.length;
    if (slot.sent >= this.#maxTasks && slot.inflight.length === 0) this.#retire(slot);
    else if (this.#closed && this.#queue.length === 0 && slot.inflight.length === 0) this.#retire(slot);
    this.#dispatch();
    if (job.batch.settled) return;
    const deliver = (values: ArrayLike<unknown>) => {
      if (job.batch.settled) return;
      if (m.errors.length === 0 && job.batch.onValues !== undefined) {
        job.batch.done += n;
        job.batch.onValues(job.first, values);
        this.#progress(job.batch);
        return;
      }
      const failed = new Map<number, SerializedError>(m.errors.map(([k, e]) => [k, e]));
      for (let k = 0; k < n && !job.batch.settled; k++) {
        const e = failed.get(k);
        job.batch.done++;
        if (e === undefined) job.batch.onItem(job.first + k, { ok: true, value: values[k] });
        else job.batch.onItem(job.first + k, { ok: false, error: this.#taskError(rebuildError(e)) });
      }
      this.#progress(job.batch);
    };
    if (!m.wired) deliver(m.values);
    else {
      fromWire(m.values as readonly unknown[]).then(deliver, (e) => {
        this.#failJob(job, e);
      });
    }
  }

  #progress(batch: Batch): void {
    // a batch settles on its last item: that one is reported all the same
    if (batch.onProgress === undefined || (batch.settled && batch.done < batch.total)) return;
    try {
      batch.onProgress({ done: batch.done, total: batch.total });
    } catch (e) {
      this.#cancel(batch, e);
    }
  }

  #taskError(cause: Error): WorkerError {
    return new WorkerError("Error", `Pool task of '${this.#name}' threw ${cause.name}: ${cause.message}`, { cause });
  }

  /** Every item of `job` fails with `error`. */
  #failJob(job: Job, error: unknown): void {
    for (let k = 0; k < job.items.length && !job.batch.settled; k++) {
      job.batch.done++;
      job.batch.onItem(job.first + k, { ok: false, error });
    }
    this.#progress(job.batch);
  }

  /** Asks an idle worker to exit (retired, or the pool is closed and drained). */
  #retire(slot: Slot): void {
    if (slot.state !== "ready") return;
    slot.state = "exiting";
    this.#setBusy(slot);
    try {
      slot.link!.send({ t: "exit" });
    } catch {
      slot.link!.kill();
    }
  }

  #exited(slot: Slot, code: number | undefined): void {
    if (slot.state === "dead") return;
    const wasStarting = slot.state === "starting";
    slot.state = "dead";
    this.#slots.delete(slot);
    let [running, ...rest]: Array<Job | undefined> = slot.inflight.splice(0);
    if (slot.endedBy === "abort" && running !== undefined) {
      // ended for an aborted task whose answer may have been on its way: what it ran instead is run again
      rest = [running, ...rest];
      running = undefined;
    }
    if (wasStarting) {
      const cause = slot.error as Error | undefined;
      const e = new WorkerError(
        "Spawn",
        cause
          ? `Cannot start pool worker '${this.#name}': ${cause.message ?? String(cause)}`
          : `Cannot start pool worker '${this.#name}' as it exited with code ${code} before it was ready`,
        { cause, exitCode: code },
      );
      slot.rejectReady(e);
      if (!this.#terminated && this.#slots.size === 0 && (this.#queue.length > 0 || !this.#closed)) {
        // no worker left and none can start: the pool cannot run anything more
        this.#broken = e;
        for (const job of this.#queue.drain()) this.#failJob(job, e);
      }
    }
    if (running !== undefined && !running.batch.settled) {
      this.#tasksFailed += running.items.length;
      this.#failJob(running, this.#deathError(slot, code));
    }
    this.#queue.unshift(rest.filter((j): j is Job => j !== undefined && !j.batch.settled));
    const work = this.#queue.length > 0 || [...this.#slots].some((s) => s.inflight.length > 0);
    // a worker that died at work is replaced; one that could not start is not (it would fail again)
    if (!this.#terminated && this.#broken === undefined && !wasStarting && (!this.#closed || work)) this.#spawn();
    this.#dispatch();
    this.#checkAllExited();
  }

  #deathError(slot: Slot, code: number | undefined): WorkerError {
    const who = slot.pid !== undefined ? `its worker (pid ${slot.pid})` : `its worker (thread ${slot.threadId})`;
    if (slot.endedBy === "terminate" || this.#terminated) {
      return new WorkerError("Terminated", `Cannot finish pool task of '${this.#name}' as the pool was terminated`, {
        exitCode: code,
      });
    }
    if (slot.error !== undefined) {
      const cause = slot.error as Error;
      return new WorkerError(
        "Error",
        `Cannot finish pool task of '${this.#name}' as ${who} died of ${cause?.name ?? "Error"}: ${
          cause?.message ?? String(cause)
        }`,
        { cause, exitCode: code },
      );
    }
    const signal = code !== undefined && code < 0
      ? Object.entries(os.constants.signals).find(([, n]) => n === -code)?.[0]
      : undefined;
    return new WorkerError(
      "Exit",
      `Cannot finish pool task of '${this.#name}' as ${who} exited before it returned: received exit code ${code}${
        signal ? ` (${signal})` : ""
      }`,
      { exitCode: code },
    );
  }

  #checkAllExited(): void {
    if ((this.#closed || this.#terminated) && this.#slots.size === 0) {
      this.#server?.close();
      this.#server = undefined;
      this.#removeDir();
      this.#markAllExited();
    }
  }

  /** Removes the directory of the process workers' socket (once; also at the program's exit). */
  readonly #removeDir = (): void => {
    if (this.#dir === undefined) return;
    process.off("exit", this.#removeDir);
    try {
      fs.rmSync(this.#dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
    this.#dir = undefined;
  };

  // ---------------------------------------------------------------------------
  // Batches

  #refuse(what: string): WorkerError | undefined {
    if (this.#terminated) return new WorkerError("Terminated", `Cannot ${what} as the pool was terminated`);
    if (this.#closed) return new WorkerError("Terminated", `Cannot ${what} as the pool is closed`);
    return this.#broken;
  }

  /** Queues `items` of `batch` in chunks; wires the signal. */
  #submit(batch: Batch, items: readonly unknown[], chunksize: number, star: boolean, signal?: AbortSignal): void {
    try {
      this.#queueChunks(batch, items, chunksize, star, signal);
    } catch (e) {
      // arguments a worker cannot receive: nothing of the batch was queued
      batch.finish();
      batch.onCancel(e);
      return;
    }
    this.#dispatch();
  }

  #queueChunks(batch: Batch, items: readonly unknown[], chunksize: number, star: boolean, signal?: AbortSignal): void {
    if (signal !== undefined) {
      const onAbort = () =>
        this.#cancel(
          batch,
          new WorkerError("Terminated", `Cannot finish pool tasks of '${this.#name}' as the signal was aborted`, {
            cause: signal.reason,
          }),
        );
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      batch.addCleanup(() => signal.removeEventListener("abort", onAbort));
    }
    // items without objects hold no structure: nothing to look for (a map of numbers skips a walk of every item)
    const plain = holdsNoObject(items);
    const wire = plain ? items : this.#as === "process" ? this.#processWire(items, "items") : toWire(items);
    const chunks: Job[] = [];
    for (let first = 0; first < wire.length; first += chunksize) {
      const chunk = wire.slice(first, first + chunksize);
      let wired = false;
      for (let k = 0; k < chunk.length && !plain; k++) {
        if (chunk[k] !== items[first + k]) {
          wired = true;
          break;
        }
      }
      const id = this.#nextJob++;
      let bytes: Uint8Array | undefined;
      if (this.#as === "process") {
        // encoded once, here, so that an item that cannot cross is refused before anything is sent
        try {
          const packed = wired || star ? undefined : packNumbers(chunk);
          bytes = frame(encode({ t: "task", id, items: packed ?? chunk, wired, star } satisfies ToWorker));
        } catch (e) {
          const k = chunk.findIndex((x) => {
            try {
              encode(x);
              return false;
            } catch {
              return true;
            }
          });
          throw new TypeError(
            `Cannot send to pool process as 'items[${first + k}]' must be plain data: ${(e as Error).message}`,
            {
              cause: e,
            },
          );
        }
      }
      chunks.push({ id, batch, first, items: chunk, wired, star, bytes });
    }
    for (const c of chunks) this.#queue.push(c);
  }

  /** Ends `batch` early with `error`: its queued chunks are dropped, a worker running one is replaced. */
  #cancel(batch: Batch, error: unknown): void {
    if (batch.settled) return;
    batch.finish();
    batch.onCancel(error);
    this.#queue.remove(batch);
    for (const s of this.#slots) {
      if (s.inflight[0]?.batch === batch && s.state !== "dead") {
        s.endedBy = "abort";
        s.link?.kill();
      }
    }
  }

  #defaultChunksize(n: number): number {
    const c = Math.ceil(n / (this.#size * 4));
    return Math.max(1, c);
  }

  #checkMapOptions(what: string, options: MapOptions | undefined): MapOptions {
    if (options !== undefined && (typeof options !== "object" || options === null)) {
      throw new TypeError(`Cannot ${what} as 'options' must be an object: received ${received(options)}`);
    }
    const o = options ?? {};
    if (o.chunksize !== undefined) positiveInteger(what, "chunksize", o.chunksize);
    if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
      throw new TypeError(`Cannot ${what} as 'signal' must be an AbortSignal: received ${received(o.signal)}`);
    }
    if (o.onProgress !== undefined && typeof o.onProgress !== "function") {
      throw new TypeError(`Cannot ${what} as 'onProgress' must be a function: received ${received(o.onProgress)}`);
    }
    return o;
  }

  #mapAll(items: Iterable<unknown>, options: MapOptions | undefined, star: boolean, what: string): Promise<unknown[]> {
    const o = this.#checkMapOptions(what, options);
    // chunks are sliced from it before this call returns: an array is not copied first
    const list = Array.isArray(items) ? items as readonly unknown[] : Array.from(items);
    const refused = this.#refuse(what);
    if (refused) return Promise.reject(refused);
    return new Promise((resolve, reject) => {
      const results: unknown[] = new Array(list.length);
      const batch = new Batch(
        list.length,
        (i, r) => {
          if (!r.ok) {
            this.#cancelQuietly(batch);
            return reject(r.error);
          }
          results[i] = r.value;
          if (batch.done === batch.total) {
            batch.finish();
            resolve(results);
          }
        },
        reject,
        o.onProgress,
        (first, values) => {
          for (let k = 0; k < values.length; k++) results[first + k] = values[k];
          if (batch.done === batch.total) {
            batch.finish();
            resolve(results);
          }
        },
      );
      if (list.length === 0) return resolve(results);
      this.#submit(batch, list, o.chunksize ?? this.#defaultChunksize(list.length), star, o.signal);
    });
  }

  /** Ends a batch that failed: its queued chunks are dropped, running ones finish unheeded. */
  #cancelQuietly(batch: Batch): void {
    batch.finish();
    this.#queue.remove(batch);
  }

  #iterate(
    items: Iterable<unknown>,
    options: MapOptions | undefined,
    ordered: boolean,
    what: string,
  ): AsyncIterableIterator<unknown> {
    const o = this.#checkMapOptions(what, options);
    const list = Array.from(items);
    const refused = this.#refuse(what);
    /** Outcomes ready to hand out, in hand-out order (unordered), or by index (ordered). */
    const ready: Outcome[] = [];
    const byIndex = new Map<number, Outcome>();
    let next = 0;
    let ended: Outcome | undefined = refused ? { ok: false, error: refused } : undefined;
    let wake: (() => void) | undefined;
    const batch = new Batch(list.length, (i, r) => {
      if (ordered) {
        byIndex.set(i, r);
        while (byIndex.has(next)) {
          ready.push(byIndex.get(next)!);
          byIndex.delete(next++);
        }
      } else ready.push(r);
      if (batch.done === batch.total) batch.finish();
      wake?.();
    }, (error) => {
      ended ??= { ok: false, error };
      wake?.();
    }, o.onProgress);
    if (!refused && list.length > 0) {
      this.#submit(batch, list, o.chunksize ?? 1, false, o.signal);
    }
    let handed = 0;
    const it: AsyncIterableIterator<unknown> = {
      next: async (): Promise<IteratorResult<unknown>> => {
        while (true) {
          if (ready.length > 0) {
            const r = ready.shift()!;
            handed++;
            if (!r.ok) {
              this.#cancelQuietly(batch);
              ended = { ok: true, value: undefined };
              throw r.error;
            }
            return { done: false, value: r.value };
          }
          if (ended !== undefined) {
            if (!ended.ok) {
              const e = ended.error;
              ended = { ok: true, value: undefined };
              throw e;
            }
            return { done: true, value: undefined };
          }
          if (handed === list.length) return { done: true, value: undefined };
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      },
      return: (): Promise<IteratorResult<unknown>> => {
        this.#cancelQuietly(batch);
        ended ??= { ok: true, value: undefined };
        ready.length = 0;
        return Promise.resolve({ done: true, value: undefined });
      },
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }

  // ---------------------------------------------------------------------------
  // Public API

  /**
   * Whether the workers are threads or processes.
   *
   * @example Logging the kind of pool
   * ```ts
   * import { Pool } from "./pool.ts";
   * await using pool = await Pool.start(new URL("./square.ts", import.meta.url), { as: "process" });
   * console.log(pool.as); // process
   * ```
   */
  get as(): SpawnAs {
    return this.#as;
  }

  /**
   * Number of workers the pool keeps (replacing those that die).
   *
   * @example The default size
   * ```ts
   * import { availableParallelism } from "node:os";
   * import { Pool } from "./pool.ts";
   * await using pool = await Pool.start(new URL("./square.ts", import.meta.url));
   * console.log(pool.size === availableParallelism()); // true
   * ```
   */
  get size(): number {
    return this.#size;
  }

  /**
   * A snapshot of the pool's counters: items done and failed, items queued
   * and running, workers started, and per live worker its pid or thread id,
   * items done and busy time.
   *
   * @example Reading how the work was shared
   * ```ts
   * import { Pool } from "./pool.ts";
   * await using pool = await Pool.start(new URL("./square.ts", import.meta.url), { size: 2 });
   * await pool.map([1, 2, 3, 4], { chunksize: 1 });
   * console.log(pool.stats.tasksDone, pool.stats.workers.map((w) => w.tasksDone)); // 4 [ 2, 2 ] (or so)
   * ```
   */
  get stats(): PoolStats {
    const queued = this.#queue.items;
    let running = 0;
    const workers: PoolWorkerStats[] = [];
    for (const s of this.#slots) {
      for (const j of s.inflight) running += j.items.length;
      workers.push({
        pid: s.pid,
        threadId: s.threadId,
        tasksDone: s.tasksDone,
        busyMs: s.busyMs,
      });
    }
    return {
      tasksDone: this.#tasksDone,
      tasksFailed: this.#tasksFailed,
      queueDepth: queued,
      running,
      workersStarted: this.#workersStarted,
      workers,
    };
  }

  /**
   * Runs the task on every item (`fn(item)`) and resolves with the results
   * in the items' order (Python's `map`). Rejects with the first error to
   * arrive (see the class doc); the items not yet sent are then dropped.
   *
   * @example Mapping with progress
   * ```ts
   * import { Pool } from "./pool.ts";
   * await using pool = await Pool.start<(n: number) => number>(new URL("./square.ts", import.meta.url));
   * const squares = await pool.map(Array.from({ length: 1000 }, (_, i) => i), {
   *   chunksize: 100,
   *   onProgress: ({ done, total }) => console.log(`${done}/${total}`),
   * });
   * console.log(squares[999]); // 998001
   * ```
   */
  map(items: Iterable<Parameters<F>[0]>, options?: MapOptions): Promise<Awaited<ReturnType<F>>[]> {
    try {
      return this.#mapAll(items, options, false, "map") as Promise<Awaited<ReturnType<F>>[]>;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * As {@linkcode Pool.map}, each item being the argument list
   * (`fn(...item)`): Python's `starmap`.
   *
   * @example Adding pairs
   * ```ts
   * import { Pool } from "./pool.ts";
   * // add.ts: export default (a: number, b: number) => a + b;
   * await using pool = await Pool.start<(a: number, b: number) => number>(new URL("./add.ts", import.meta.url));
   * console.log(await pool.starmap([[1, 2], [3, 4]])); // [3, 7]
   * ```
   */
  starmap(items: Iterable<Parameters<F>>, options?: MapOptions): Promise<Awaited<ReturnType<F>>[]> {
    try {
      return this.#mapAll(items, options, true, "starmap") as Promise<Awaited<ReturnType<F>>[]>;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Runs the task on every item and yields the results in the items' order
   * as they come (Python's `imap`; `chunksize` 1 by default). A failed item
   * throws from the iteration at its place; leaving the loop early drops the
   * items not yet sent.
   *
   * @example Consuming results in order
   * ```ts
   * import { Pool } from "./pool.ts";
   * await using pool = await Pool.start<(n: number) => number>(new URL("./square.ts", import.meta.url));
   * for await (const sq of pool.imap([1, 2, 3])) console.log(sq); // 1, 4, 9
   * ```
   */
  imap(items: Iterable<Parameters<F>[0]>, options?: MapOptions): AsyncIterableIterator<Awaited<ReturnType<F>>> {
    return this.#iterate(items, options, true, "imap") as AsyncIterableIterator<Awaited<ReturnType<F>>>;
  }

  /**
   * As {@linkcode Pool.imap}, yielding each result as soon as it arrives,
   * in no particular order (Python's `imap_unordered`).
   *
   * @example Taking results as workers finish them
   * ```ts
   * import { Pool } from "./pool.ts";
   * await using pool = await Pool.start<(ms: number) => Promise<number>>(new URL("./sleep.ts", import.meta.url));
   * for await (const ms of pool.imapUnordered([30, 10, 20])) console.log(ms); // likely 10, 20, 30
   * ```
   */
  imapUnordered(
    items: Iterable<Parameters<F>[0]>,
    options?: MapOptions,
  ): AsyncIterableIterator<Awaited<ReturnType<F>>> {
    return this.#iterate(items, options, false, "imapUnordered") as AsyncIterableIterator<Awaited<ReturnType<F>>>;
  }

  /**
   * Runs the task once with `args` and resolves with its result: Python's
   * `apply`, awaited (the same as `applyAsync(args)`).
   *
   * @example One call on a pool worker
   * ```ts
   * import { Pool } from "./pool.ts";
   * await using pool = await Pool.start<(a: number, b: number) => number>(new URL("./add.ts", import.meta.url));
   * console.log(await pool.apply(2, 40)); // 42
   * ```
   */
  apply(...args: Parameters<F>): Promise<Awaited<ReturnType<F>>> {
    return this.applyAsync(args);
  }

  /**
   * Runs the task once with the argument list `args` (an array, as Python's
   * `apply_async(func, args)` takes a tuple) and returns the promise of its
   * result, bounded by `options.timeout` and `options.signal` (see
   * {@linkcode ApplyOptions}).
   *
   * @example A task with a deadline
   * ```ts
   * import { Pool, WorkerError } from "../mod.ts";
   * await using pool = await Pool.start<(q: string) => Promise<string>>(new URL("./search.ts", import.meta.url));
   * try {
   *   console.log(await pool.applyAsync(["needle"], { timeout: 1_000 }));
   * } catch (e) {
   *   if (e instanceof WorkerError && e.reason === "Terminated") console.log("too slow");
   * }
   * ```
   */
  applyAsync(args: Parameters<F>, options?: ApplyOptions): Promise<Awaited<ReturnType<F>>> {
    if (!Array.isArray(args)) {
      return Promise.reject(
        new TypeError(`Cannot apply task as 'args' must be an array of arguments: received ${received(args)}`),
      );
    }
    if (options !== undefined && (typeof options !== "object" || options === null)) {
      return Promise.reject(
        new TypeError(`Cannot apply task as 'options' must be an object: received ${received(options)}`),
      );
    }
    const o = options ?? {};
    if (o.timeout !== undefined && (typeof o.timeout !== "number" || !(o.timeout >= 0))) {
      return Promise.reject(
        new TypeError(`Cannot apply task as 'timeout' must be a non-negative number: received ${received(o.timeout)}`),
      );
    }
    if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
      return Promise.reject(
        new TypeError(`Cannot apply task as 'signal' must be an AbortSignal: received ${received(o.signal)}`),
      );
    }
    const refused = this.#refuse("apply task");
    if (refused) return Promise.reject(refused);
    return new Promise((resolve, reject) => {
      const batch = new Batch(1, (_, r) => {
        batch.finish();
        if (r.ok) resolve(r.value as Awaited<ReturnType<F>>);
        else reject(r.error);
      }, reject);
      if (o.timeout !== undefined) {
        const timer = setTimeout(
          () =>
            this.#cancel(
              batch,
              new WorkerError(
                "Terminated",
                `Cannot finish pool task of '${this.#name}' as its timeout elapsed: received ${o.timeout}`,
              ),
            ),
          o.timeout,
        );
        batch.addCleanup(() => clearTimeout(timer));
      }
      this.#submit(batch, [args], 1, true, o.signal);
    });
  }

  /**
   * Accepts no more tasks (Python's `close`): the workers exit once the
   * tasks already given are done. Then {@linkcode Pool.join} waits for them.
   *
   * @example Draining a pool
   * ```ts
   * import { Pool } from "./pool.ts";
   * const pool = await Pool.start<(n: number) => number>(new URL("./square.ts", import.meta.url));
   * const pending = pool.map([1, 2, 3]);
   * pool.close();
   * await pool.join();
   * console.log(await pending); // [1, 4, 9]
   * ```
   */
  close(): void {
    if (this.#closed || this.#terminated) return;
    this.#closed = true;
    for (const s of [...this.#slots]) {
      if (this.#queue.length === 0 && s.inflight.length === 0) this.#retire(s);
    }
    this.#checkAllExited();
  }

  /**
   * Resolves once every worker has exited, after `close()` or
   * `terminate()` (Python's `join`); rejects with a `TypeError` while the
   * pool is open.
   *
   * @example Waiting for the workers
   * ```ts
   * import { Pool } from "./pool.ts";
   * const pool = await Pool.start(new URL("./square.ts", import.meta.url));
   * pool.close();
   * await pool.join();
   * console.log(pool.stats.workers.length); // 0
   * ```
   */
  join(): Promise<void> {
    if (!this.#closed && !this.#terminated) {
      return Promise.reject(
        new TypeError(
          "Cannot join pool as it is still open (call close() or terminate() first): received an open pool",
        ),
      );
    }
    return this.#allExited;
  }

  /**
   * Stops every worker now (threads are terminated, processes get SIGTERM)
   * and resolves once they have exited (Python's `terminate`). Tasks not
   * finished reject with a `WorkerError` of reason `"Terminated"`.
   *
   * @example Giving up on outstanding work
   * ```ts
   * import { Pool } from "./pool.ts";
   * const pool = await Pool.start(new URL("./slow.ts", import.meta.url));
   * const pending = pool.apply(60_000);
   * await pool.terminate();
   * await pending.catch((e) => console.log(e.reason)); // Terminated
   * ```
   */
  async terminate(): Promise<void> {
    if (!this.#terminated) {
      this.#terminated = true;
      const e = new WorkerError("Terminated", `Cannot finish pool task of '${this.#name}' as the pool was terminated`);
      for (const job of this.#queue.drain()) {
        if (!job.batch.settled) this.#failJob(job, e);
      }
      for (const s of [...this.#slots]) {
        s.endedBy = "terminate";
        for (const job of s.inflight.splice(0)) if (!job.batch.settled) this.#failJob(job, e);
        // an exiting worker keeps the event loop alive until its exit is seen
        if (s.state !== "dead") s.state = "exiting";
        this.#setBusy(s);
        if (s.link) s.link.kill();
      }
      this.#checkAllExited();
    }
    await this.#allExited;
  }

  /**
   * `await using` ends the pool as Python's `with Pool()` does: with
   * `terminate()`. Await the results you need inside the block (or call
   * `close()` and `join()` there) first.
   *
   * @example A pool for one block
   * ```ts
   * import { Pool } from "./pool.ts";
   * {
   *   await using pool = await Pool.start<(n: number) => number>(new URL("./square.ts", import.meta.url));
   *   console.log(await pool.map([1, 2])); // [1, 4]
   * } // terminated here
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.terminate();
  }
}
