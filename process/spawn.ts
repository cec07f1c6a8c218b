/**
 * `spawn` runs the default export of a module in a new worker thread or a
 * child process of the same runtime, with procshare structures among its
 * arguments, and hands back its result: Python's `multiprocessing.Process`,
 * with a return value.
 *
 * @example Running a module in a thread, then in a process
 * ```ts
 * import { spawn } from "./spawn.ts";
 * // square.ts: export default (n: number) => n * n;
 * const url = new URL("./square.ts", import.meta.url);
 * const t = spawn<(n: number) => number>(url, { args: [7] });
 * const p = spawn<(n: number) => number>(url, { args: [8], as: "process" });
 * console.log(await t.join(), await p.join()); // 49 64
 * ```
 * @module
 */
import { spawn as spawnChild } from "node:child_process";
import { listenForNames } from "../structures/_shm_names.ts";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { WorkerError } from "../errors.ts";
import type { WorkerErrorReason } from "../errors.ts";
import { fromWire, toWire } from "../attach.ts";
import { hasHandle } from "../core/backend.ts";
import { decode, encode } from "../transports/_codec.ts";
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
  isReport,
  packageModule,
  PHASE_RUNNING,
  type ProcessStart,
  rebuildError,
  received,
  type Report,
  REPORT_FILE,
  REPORT_TAG,
  signalNumber,
  SPAWN_ENV,
  START_FILE,
  STOP_MESSAGE,
  type ThreadStart,
} from "./_protocol.ts";
import { preparePipes } from "./_pipe_remote.ts";
import { childChannels, threadChannels } from "../transports/pipe/_hub.ts";

/** A signal name, as `process.kill` takes it: `"SIGTERM"`, `"SIGKILL"`, `"SIGINT"`… */
export type Signal = string;
/**
 * Where a spawned module runs: a worker thread of this process (shares its
 * memory, starts fast), or a child process of the same runtime (isolated,
 * plain-data arguments only).
 *
 * @example Choosing from configuration
 * ```ts
 * import { spawn, type SpawnAs } from "./spawn.ts";
 * const as: SpawnAs = process.env.ISOLATE ? "process" : "thread";
 * const w = spawn(new URL("./job.ts", import.meta.url), { as });
 * console.log(w.as);
 * ```
 */
export type SpawnAs = "thread" | "process";

/**
 * Options of {@linkcode spawn}.
 *
 * @example Typing the options of a two-argument module
 * ```ts
 * import type { SpawnOptions } from "./spawn.ts";
 * const options: SpawnOptions<[string, number]> = { args: ["job", 3], as: "process", env: { LOG: "1" } };
 * console.log(options.as);
 * ```
 */
export interface SpawnOptions<A extends readonly unknown[] = unknown[]> {
  /**
   * Arguments of the default export. Structures travel as their handles and
   * arrive attached. A thread receives the rest by structured clone
   * (SharedArrayBuffers are shared, not copied); a process receives plain
   * data only (procshare's codec: objects, arrays, Map, Set, Date, typed
   * arrays, bigint) and no SharedArrayBuffer. The ends of a `Pipe` go to
   * either kind, and are handed over to the worker (see `Connection`).
   */
  readonly args?: A;
  /** `"thread"` (default) or `"process"`. */
  readonly as?: SpawnAs;
  /** Variables added to the worker's copy of the environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Aborting it terminates the worker. */
  readonly signal?: AbortSignal;
  /**
   * The worker's {@linkcode Spawned.name}; by default `Process-N` or
   * `Thread-N`, numbered from 1 in this process, as CPython names them.
   */
  readonly name?: string;
  /**
   * Whether the worker is a daemon (default `true`): as CPython's daemonic
   * processes, it is ended when this process exits. A daemon process is
   * sent SIGTERM when this process exits (its `exit` event: `process.exit`,
   * an uncaught error, an empty event loop), and exits by itself when this
   * process dies any other way (a signal, SIGKILL included): it watches its
   * parent's pid and exits once it was reparented (within 200 ms).
   *
   * `daemon: false` leaves a process running when this process exits or
   * dies (it does not watch its parent); CPython would join it first, which
   * JavaScript cannot do once `process.exit` is called.
   *
   * Unlike CPython, every running worker, daemon or not, keeps this
   * process's event loop alive, as Node's workers and child processes do: a
   * JavaScript program has no main function whose end means "exit now", and
   * a pending `join()` or `Atomics.waitAsync` keeps nothing alive by itself.
   * A thread ends with this process whatever its `daemon`, as every thread.
   */
  readonly daemon?: boolean;
}

/**
 * Options of {@linkcode Spawned.join}.
 *
 * @example Waiting at most a second
 * ```ts
 * import { spawn, type JoinOptions } from "./spawn.ts";
 * const options: JoinOptions = { timeout: 1_000 };
 * const w = spawn(new URL("./job.ts", import.meta.url));
 * await w.join(options);
 * console.log(w.isAlive() ? "still running" : `exited with ${w.exitCode}`);
 * ```
 */
export interface JoinOptions {
  /**
   * Milliseconds to wait at most. When the worker still runs then, `join`
   * resolves with `undefined` and the worker carries on, as CPython's
   * `join(timeout)` returns None: tell the cases apart with `isAlive()`.
   */
  readonly timeout?: number;
}

/**
 * A running or finished worker started by {@linkcode spawn}. Disposing it
 * (`await using`) terminates it if it still runs.
 *
 * @example Waiting for a result, bounded by a signal
 * ```ts
 * import { spawn } from "./spawn.ts";
 * await using w = spawn(new URL("./job.ts", import.meta.url), { signal: AbortSignal.timeout(5_000) });
 * console.log(await w.join(), w.exitCode); // …, 0
 * ```
 *
 * @example Giving a process a second, then killing it
 * ```ts
 * import { spawn } from "./spawn.ts";
 * const w = spawn(new URL("./job.ts", import.meta.url), { as: "process", name: "job" });
 * await w.join({ timeout: 1_000 });
 * if (w.isAlive()) await w.kill(); // SIGKILL
 * console.log(w.name, w.pid, w.exitCode); // job 12345 -9
 * ```
 */
export interface Spawned<R = unknown> extends AsyncDisposable {
  /** Whether it runs as a thread or a process. */
  readonly as: SpawnAs;
  /** The option `name`, or `Process-N` / `Thread-N` (CPython's default names). */
  readonly name: string;
  /** The option `daemon` (default `true`): see {@linkcode SpawnOptions.daemon}. */
  readonly daemon: boolean;
  /**
   * The child's process id (process mode, once started). `undefined` for a
   * thread, which runs in this process (`process.pid`): see `threadId`.
   */
  readonly pid: number | undefined;
  /** The worker thread's id (thread mode); `undefined` for a process. */
  readonly threadId: number | undefined;
  /**
   * The exit code once the worker has exited, else `undefined`: 0 after a
   * result, 1 after an error, the code given to `process.exit`; for a process
   * killed by a signal, minus the signal number (−15 for SIGTERM), as in
   * CPython. A terminated thread exits with 1.
   */
  readonly exitCode: number | undefined;
  /**
   * Waits for the worker to exit and resolves with what its default export
   * returned (structures among it arrive attached). The worker exits as soon
   * as the function settles. Rejects with a `WorkerError` whose reason is
   * `"Error"` when the function threw (its error, rebuilt, is the `cause`),
   * `"Exit"` when the worker exited before returning (see `exitCode`),
   * `"Terminated"` after `terminate()` or the signal, and `"Spawn"` when the
   * module could not be started or loaded. Every call returns the same promise.
   */
  join(): Promise<R>;
  /**
   * {@linkcode Spawned.join}, for at most `options.timeout` milliseconds:
   * resolves with `undefined` if the worker still runs then (it is not
   * stopped; see `isAlive()`).
   */
  join(options: JoinOptions): Promise<R | undefined>;
  /**
   * True from `spawn` until the worker has exited (false for one that never
   * started), as CPython's `is_alive()`.
   */
  isAlive(): boolean;
  /**
   * Stops the worker (a thread is terminated, a process gets SIGTERM) and
   * resolves once it has exited; `join()` then rejects with reason
   * `"Terminated"` unless a result or error had already arrived. Does nothing
   * to a worker that has exited.
   *
   * On Deno, whose `terminate()` does not stop a thread busy in a loop or
   * blocked in a wait, a terminated thread that is not idle halts at its next
   * procshare call (or wait slice) and only then counts as dead: what it
   * holds passes on from there. Use `as: "process"` for work that may have to
   * be killed while it computes.
   */
  terminate(): Promise<void>;
  /**
   * Sends `signal` (default `"SIGKILL"`, which cannot be caught) to a
   * process, and resolves once it has exited; `exitCode` is then minus the
   * signal number when the signal ended it (−9 for SIGKILL). A thread is
   * terminated, as by `terminate()`. `join()` then rejects with reason
   * `"Terminated"` unless a result or error had already arrived. Does
   * nothing to a worker that has exited.
   */
  kill(signal?: Signal): Promise<void>;
}

/**
 * A function a spawned module may default-export; `spawn<F>` takes the
 * arguments' and result's types from it.
 *
 * @example Typing a spawn by the module's default export
 * ```ts
 * import { spawn, type WorkerFunction } from "./spawn.ts";
 * const square = ((n: number) => n * n) satisfies WorkerFunction;
 * const w = spawn<typeof square>(new URL("./square.ts", import.meta.url), { args: [9] });
 * const n: number = await w.join();
 * ```
 */
// deno-lint-ignore no-explicit-any
export type WorkerFunction = (...args: any[]) => unknown;

const ENTRY = packageModule("./_worker_entry");
const BOOTSTRAP = new URL("./_bootstrap.mjs", import.meta.url);

function moduleUrl(url: unknown): URL {
  let u: URL;
  if (url instanceof URL) {
    u = url;
  } else if (typeof url === "string" && url !== "") {
    u = /^[a-z][a-z0-9+.-]+:/i.test(url) ? new URL(url) : pathToFileURL(path.resolve(url));
  } else {
    throw new TypeError(`Cannot spawn worker as 'url' must be a URL or a file path: received ${received(url)}`);
  }
  if (u.protocol !== "file:") {
    throw new TypeError(`Cannot spawn worker as 'url' must be a file: URL: received ${u.href}`);
  }
  return u;
}

interface Checked {
  readonly url: URL;
  readonly args: readonly unknown[];
  readonly as: SpawnAs;
  readonly env: Readonly<Record<string, string>> | undefined;
  readonly signal: AbortSignal | undefined;
  readonly name: string | undefined;
  readonly daemon: boolean;
}

function check(url: unknown, options: unknown): Checked {
  const u = moduleUrl(url);
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new TypeError(`Cannot spawn worker as 'options' must be an object: received ${received(options)}`);
  }
  const o = (options ?? {}) as SpawnOptions;
  const args = o.args ?? [];
  if (!Array.isArray(args)) {
    throw new TypeError(`Cannot spawn worker as 'args' must be an array: received ${received(args)}`);
  }
  const as = o.as ?? "thread";
  if (as !== "thread" && as !== "process") {
    throw new TypeError(`Cannot spawn worker as 'as' must be "thread" or "process": received ${received(as)}`);
  }
  if (o.env !== undefined) {
    if (typeof o.env !== "object" || o.env === null) {
      throw new TypeError(`Cannot spawn worker as 'env' must be an object of strings: received ${received(o.env)}`);
    }
    for (const [k, v] of Object.entries(o.env)) {
      if (typeof v !== "string") {
        throw new TypeError(`Cannot spawn worker as 'env.${k}' must be a string: received ${received(v)}`);
      }
    }
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new TypeError(`Cannot spawn worker as 'signal' must be an AbortSignal: received ${received(o.signal)}`);
  }
  if (o.name !== undefined && typeof o.name !== "string") {
    throw new TypeError(`Cannot spawn worker as 'name' must be a string: received ${received(o.name)}`);
  }
  if (o.daemon !== undefined && typeof o.daemon !== "boolean") {
    throw new TypeError(`Cannot spawn worker as 'daemon' must be a boolean: received ${received(o.daemon)}`);
  }
  return { url: u, args, as, env: o.env, signal: o.signal, name: o.name, daemon: o.daemon ?? true };
}

/** Encodes the start of a process, refusing what cannot cross into one. */
function processStart(url: URL, args: readonly unknown[], daemon: boolean): Uint8Array {
  const wire = toWire(args);
  for (let i = 0; i < wire.length; i++) {
    const found = findSharedBuffer(wire[i], `args[${i}]`);
    if (found !== undefined) {
      // a structure (marked handle) is named where it stands, not inside its handle
      const [where, inside] = found.split(".__procshare_handle__");
      const arg = args[i];
      const what = hasHandle(arg)
        ? `a ${arg.handle.kind} on the ${arg.handle.via} transport`
        : inside !== undefined
        ? "a structure on the shared-buffer transport"
        : received(arg);
      throw new TypeError(
        `Cannot spawn process as '${where}' holds a SharedArrayBuffer, which cannot cross processes (use a socket transport, or as: "thread"): received ${what}`,
      );
    }
  }
  const start: ProcessStart = { url: url.href, wire, parent: daemon ? process.pid : undefined };
  try {
    return encode(start);
  } catch (e) {
    // name the argument at fault
    const i = wire.findIndex((a) => {
      try {
        encode(a);
        return false;
      } catch {
        return true;
      }
    });
    throw new TypeError(
      `Cannot spawn process as 'args[${i}]' must be plain data: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** Whether the worker loads TypeScript: the entry (unless built to .js) or the user's module. */
function typescript(url: URL): boolean {
  return isTypeScript(ENTRY) || isTypeScript(url);
}

/** How many workers of each kind this process has named, for `Process-N` / `Thread-N`. */
const named: Record<SpawnAs, number> = { thread: 0, process: 0 };

/** Daemon child processes still running, sent SIGTERM when this process exits. */
const daemons = new Set<{ kill(signal: NodeJS.Signals): unknown }>();
let exitHook = false;

function endDaemonsAtExit(): void {
  for (const child of daemons) {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
  }
}

/** Ends `child` when this process exits (see SpawnOptions.daemon) until `forget` is called. */
function daemonChild(child: { kill(signal: NodeJS.Signals): unknown }): () => void {
  if (!exitHook) {
    exitHook = true;
    process.on("exit", endDaemonsAtExit);
  }
  daemons.add(child);
  return () => daemons.delete(child);
}

const SIGNALS = os.constants.signals as Record<string, number | undefined>;

function checkTimeout(timeout: unknown): number {
  if (typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0) {
    throw new TypeError(`Cannot join worker as 'timeout' must be a non-negative number: received ${received(timeout)}`);
  }
  return timeout;
}

class SpawnedWorker<R> implements Spawned<R> {
  readonly as: SpawnAs;
  readonly name: string;
  readonly daemon: boolean;
  pid: number | undefined;
  threadId: number | undefined;
  exitCode: number | undefined;
  readonly #name: string;
  readonly #join: Promise<R>;
  #resolve!: (v: R) => void;
  #reject!: (e: unknown) => void;
  readonly #exited: Promise<void>;
  #markExited!: () => void;
  #done = false;
  #report: Report | undefined;
  #spawnError: unknown;
  #runError: { readonly error: unknown } | undefined;
  #terminated = false;
  #terminateCause: unknown;
  #stop: (signal: Signal) => void = () => {};
  #cleanup: Array<() => void> = [];

  constructor(as: SpawnAs, url: URL, name: string | undefined, daemon: boolean) {
    this.as = as;
    this.name = name ?? `${as === "thread" ? "Thread" : "Process"}-${++named[as]}`;
    this.daemon = daemon;
    this.#name = path.basename(fileURLToPath(url));
    this.#join = new Promise<R>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // nobody has to join: a failure that nobody awaits is not unhandled
    this.#join.catch(() => {});
    this.#exited = new Promise((resolve) => (this.#markExited = resolve));
  }

  join(): Promise<R>;
  join(options: JoinOptions): Promise<R | undefined>;
  join(options?: JoinOptions): Promise<R | undefined> {
    if (options !== undefined && (typeof options !== "object" || options === null)) {
      throw new TypeError(`Cannot join worker as 'options' must be an object: received ${received(options)}`);
    }
    if (options?.timeout === undefined || options.timeout === Infinity) return this.#join;
    const timeout = checkTimeout(options.timeout);
    if (this.#done) return this.#join;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const elapsed = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, timeout, undefined)));
    return Promise.race([this.#join, elapsed]).finally(() => clearTimeout(timer));
  }

  isAlive(): boolean {
    return !this.#done;
  }

  terminate(): Promise<void> {
    return this.kill("SIGTERM");
  }

  async kill(signal: Signal = "SIGKILL"): Promise<void> {
    if (typeof signal !== "string" || typeof SIGNALS[signal] !== "number") {
      throw new TypeError(`Cannot kill worker as 'signal' must be a signal name: received ${received(signal)}`);
    }
    if (!this.#done && !this.#terminated) {
      this.#terminated = true;
      this.#stop(signal);
    }
    await this.#exited;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.terminate();
  }

  /** Wires the way to stop the worker, and the signal. */
  started(stop: (signal: Signal) => void, signal: AbortSignal | undefined): void {
    this.#stop = stop;
    if (signal) {
      const onAbort = () => {
        this.#terminateCause = signal.reason;
        void this.terminate();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#cleanup.push(() => signal.removeEventListener("abort", onAbort));
    }
  }

  /** The worker's one report arrived. */
  report(r: Report): void {
    this.#report ??= r;
  }

  /** The runtime failed to start or load the worker. */
  spawnFailed(e: unknown): void {
    this.#spawnError ??= e;
  }

  /** The worker's function failed in a way the entry could not report. */
  runFailed(e: unknown): void {
    this.#runError ??= { error: e };
  }

  /** Settles as terminated without ever starting (the signal was already aborted). */
  abortedBeforeStart(reason: unknown): void {
    this.#terminated = true;
    this.#terminateCause = reason;
    this.exited(undefined);
  }

  /** The worker has exited (or never started: `code` undefined); settles `join()`. */
  exited(code: number | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.exitCode = code;
    for (const f of this.#cleanup) {
      try {
        f();
      } catch {
        // cleanup is best effort
      }
    }
    this.#settle().finally(() => this.#markExited());
  }

  async #settle(): Promise<void> {
    const r = this.#report;
    const code = this.exitCode;
    if (r?.ok) {
      try {
        const [value] = await fromWire([r.value]);
        this.#resolve(value as R);
      } catch (e) {
        this.#fail("Error", `Cannot attach the result of worker '${this.#name}': ${(e as Error).message}`, e);
      }
    } else if (r) {
      const cause = rebuildError(r.error);
      if (r.phase === "spawn") {
        this.#fail("Spawn", `Cannot spawn worker '${this.#name}': ${cause.message}`, cause);
      } else {
        this.#fail("Error", `Worker '${this.#name}' threw ${cause.name}: ${cause.message}`, cause);
      }
    } else if (this.#runError) {
      const e = this.#runError.error as Error;
      this.#fail("Error", `Worker '${this.#name}' threw ${e?.name ?? "Error"}: ${e?.message ?? String(e)}`, e);
    } else if (this.#terminated) {
      this.#fail("Terminated", `Worker '${this.#name}' was terminated before it returned`, this.#terminateCause);
    } else if (this.#spawnError !== undefined) {
      const e = this.#spawnError as Error;
      this.#fail("Spawn", `Cannot spawn worker '${this.#name}': ${e?.message ?? String(e)}`, e);
    } else {
      this.#fail("Exit", `Worker '${this.#name}' exited with code ${code} before it returned`, undefined);
    }
  }

  #fail(reason: WorkerErrorReason, message: string, cause: unknown): void {
    const options: { cause?: unknown; exitCode?: number } = { exitCode: this.exitCode };
    if (cause !== undefined) options.cause = cause;
    this.#reject(new WorkerError(reason, message, options));
  }
}

/**
 * How long a thread terminated on Deno has to read {@linkcode STOP_MESSAGE}
 * before `terminate()` is called anyway (it then ends the thread's event
 * loop; a thread busy in a loop halts at its next procshare call).
 */
const DENO_STOP_GRACE_MS = 250;

function startThread<R>(w: SpawnedWorker<R>, c: Checked): void {
  // a worker may create or attach SharedMemory by name before this thread did: answer it
  listenForNames();
  const pipes = preparePipes(c.args, "thread");
  const wire = toWire(pipes.args);
  const id = reserveWorkerId();
  const phase = new Int32Array(new SharedArrayBuffer(4));
  const start: ThreadStart = {
    tag: REPORT_TAG,
    phase: phase.buffer as SharedArrayBuffer,
    url: c.url.href,
    wire,
    registry: registryBuffer(),
    id,
    entry: ENTRY.href,
    typescript: runtime === "node" && typescript(c.url),
  };
  const env = c.env ? { ...process.env, ...c.env } : undefined;
  const channels = threadChannels(); // the pipe: managers of this thread, one port each
  let worker: Worker;
  try {
    // every runtime starts at the .mjs bootstrap: Node needs it to register tsx, and
    // under `deno test` a .ts worker root would be type-checked on each spawn (~2 s)
    worker = new Worker(BOOTSTRAP, {
      ...(channels.transfer.length === 0
        ? { workerData: start }
        : { workerData: { ...start, ...channels.data }, transferList: [...channels.transfer] }),
      env,
    });
  } catch (e) {
    channels.release();
    markDead(id);
    if ((e as Error)?.name === "DataCloneError") {
      throw new TypeError(
        `Cannot spawn thread as 'args' must be structured-cloneable: received ${(e as Error).message}`,
        { cause: e },
      );
    }
    w.spawnFailed(e);
    w.exited(undefined);
    return;
  }
  w.threadId = worker.threadId;
  pipes.commit(`worker '${w.name}'`);
  worker.on("message", (m: unknown) => {
    if (isReport(m)) w.report(m);
  });
  // errors the entry could not report: a failed load (bootstrap, tsx, entry), or
  // under `bun test` an unhandled rejection of the function
  worker.on("error", (e: unknown) => {
    if (Atomics.load(phase, 0) === PHASE_RUNNING) w.runFailed(e);
    else w.spawnFailed(e);
  });
  worker.on("exit", (code: number) => {
    // On Deno an exit after terminate() may be a lie (a busy thread keeps running):
    // such a thread marks itself dead when it stops (STOP_MESSAGE, or its next procshare call)
    if (!stopRequested(id)) markDead(id);
    pipes.release();
    channels.release();
    w.exited(code);
  });
  w.started(() => {
    if (runtime !== "deno") return void worker.terminate();
    requestStop(id);
    try {
      worker.postMessage(STOP_MESSAGE);
    } catch {
      // the worker is already gone
    }
    // a thread busy in a loop never reads the message: terminate() at least ends its event loop
    const later = setTimeout(() => void worker.terminate(), DENO_STOP_GRACE_MS);
    worker.once("exit", () => clearTimeout(later));
  }, c.signal);
}

function startProcess<R>(w: SpawnedWorker<R>, c: Checked): void {
  const pipes = preparePipes(c.args, "process");
  const start = processStart(c.url, pipes.args, c.daemon);
  let dir: string | undefined;
  const removeDir = () => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "procshare-spawn-"));
    fs.writeFileSync(path.join(dir, START_FILE), start);
    const { command, args } = runtimeCommand(ENTRY, { typescript: typescript(c.url) });
    const channels = childChannels(); // the pipe: managers of this thread, one descriptor each
    const child = spawnChild(command, [...args], {
      stdio: ["ignore", "inherit", "inherit", ...channels.stdio],
      env: { ...process.env, ...c.env, ...channels.env, [SPAWN_ENV]: dir },
    });
    channels.attach(child.stdio);
    const exchange = dir;
    w.pid = child.pid;
    if (child.pid !== undefined) pipes.commit(`worker '${w.name}'`);
    child.on("error", (e) => {
      w.spawnFailed(e);
      // a child that never started emits no "exit"
      if (child.pid === undefined) {
        removeDir();
        w.exited(undefined);
      }
    });
    child.on("exit", (code, signal) => {
      try {
        const bytes = fs.readFileSync(path.join(exchange, REPORT_FILE));
        const r = decode(bytes);
        if (isReport(r)) w.report(r);
      } catch {
        // no report: the child exited before its function settled
      }
      removeDir();
      pipes.release();
      w.exited(code ?? -signalNumber(signal ?? ""));
    });
    const forget = c.daemon ? daemonChild(child) : () => {};
    child.once("exit", forget);
    w.started((signal) => child.kill(signal as NodeJS.Signals), c.signal);
  } catch (e) {
    removeDir();
    w.spawnFailed(e);
    w.exited(undefined);
  }
}

/**
 * Runs the default export of the module at `url` in a new worker and returns
 * at once; `join()` gives its result.
 *
 * With `as: "thread"` (the default) the module runs in a `node:worker_threads`
 * worker of this process: its arguments are structured-cloned, so a
 * SharedArrayBuffer among them (and every shared-buffer structure) is shared,
 * and the worker joins this process's thread registry, so locks it holds are
 * released to others when it dies. With `as: "process"` it runs in a child
 * process of the same runtime (`node --import tsx`, `deno run -A`, `bun`)
 * whose stdout and stderr are this process's; the arguments must then be
 * plain data, structures on a socket, pipe or Redis transport included.
 *
 * The module runs with procshare's `node_modules`; on Node, TypeScript is
 * loaded by tsx. The worker exits as soon as the function settles, like a
 * CPython `Process` whose target returned.
 *
 * Throws a `TypeError` for a bad `url`, `args`, `as`, `env` or `signal`,
 * and for arguments the chosen kind of worker cannot receive.
 *
 * @example Sharing memory with a thread
 * ```ts
 * import { spawn } from "./spawn.ts";
 * // add.ts: export default (sab: SharedArrayBuffer, n: number) => Atomics.add(new Int32Array(sab), 0, n);
 * const sab = new SharedArrayBuffer(4);
 * await spawn(new URL("./add.ts", import.meta.url), { args: [sab, 5] }).join();
 * console.log(new Int32Array(sab)[0]); // 5
 * ```
 *
 * @example Catching a worker's failure
 * ```ts
 * import { spawn } from "./spawn.ts";
 * import { WorkerError } from "../errors.ts";
 * try {
 *   await spawn(new URL("./job.ts", import.meta.url), { as: "process" }).join();
 * } catch (e) {
 *   if (e instanceof WorkerError && e.reason === "Error") console.error("job threw", e.cause);
 *   else if (e instanceof WorkerError && e.reason === "Exit") console.error("job exited", e.exitCode);
 * }
 * ```
 */
export function spawn<F extends WorkerFunction = WorkerFunction>(
  url: URL | string,
  options?: SpawnOptions<Parameters<F>>,
): Spawned<Awaited<ReturnType<F>>> {
  const c = check(url, options);
  const w = new SpawnedWorker<Awaited<ReturnType<F>>>(c.as, c.url, c.name, c.daemon);
  if (c.signal?.aborted) {
    // arguments are still checked, so a mistake is not hidden by an early abort
    if (c.as === "process") processStart(c.url, preparePipes(c.args, "process", true).args, c.daemon);
    else preparePipes(c.args, "thread");
    w.abortedBeforeStart(c.signal.reason);
    return w;
  }
  if (!fs.existsSync(fileURLToPath(c.url))) {
    w.spawnFailed(new Error(`Module not found: received ${fileURLToPath(c.url)}`));
    w.exited(undefined);
    return w;
  }
  if (c.as === "thread") startThread(w, c);
  else startProcess(w, c);
  return w;
}
