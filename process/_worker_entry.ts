/**
 * The first module of every spawned worker, thread or process. It joins the
 * parent's thread registry (threads only) before any user code runs,
 * imports the user's module, re-attaches the arguments (`fromWire` loads the
 * transport each handle names), calls the default export and reports its
 * result or error once (see `_protocol.ts`). Then it ends the worker, as
 * CPython's `Process` exits when its target returns: timers or handles the
 * function left behind cannot keep `join()` waiting, and errors raised after
 * the report cannot change it.
 *
 * Exit codes: 0 after a result, 1 after an error (as in CPython).
 * @module
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { fromWire, toWire } from "../attach.ts";
import { decode, encode } from "../transports/_codec.ts";
import { adoptRegistry, markDead, setThreadId } from "../transports/_runtime/threads.ts";
import { runtime } from "../transports/_runtime/runtime.ts";
import { attachPipes, closeReceivedPipes } from "./_pipe_remote.ts";
import {
  errorReport,
  type FailurePhase,
  okReport,
  PARENT_WATCH_MS,
  PHASE_RUNNING,
  type ProcessStart,
  type Report,
  REPORT_FILE,
  REPORT_TAG,
  SPAWN_ENV,
  START_FILE,
  type StartCommon,
  STOP_MESSAGE,
  type ThreadStart,
} from "./_protocol.ts";

/** How this worker hands its one report back and ends. */
type Finish = (report: Report) => void;

let reported = false;

/** Reports once, then ends the worker with the code CPython would use. */
function once(finish: Finish, report: Report): void {
  if (reported) return;
  reported = true;
  finish(report);
}

function threadFinish(report: Report): void {
  let code = report.ok ? 0 : 1;
  try {
    parentPort!.postMessage(report);
  } catch (e) {
    code = 1;
    try {
      parentPort!.postMessage(errorReport(
        "run",
        new TypeError(`Cannot return result from worker as it cannot be cloned: ${(e as Error).message}`, { cause: e }),
      ));
    } catch {
      // the parent is gone: nobody to tell
    }
  }
  process.exit(code);
}

function flush(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    try {
      stream.write("", () => resolve());
    } catch {
      resolve();
    }
  });
}

function processFinish(dir: string): Finish {
  return (report) => {
    let code = report.ok ? 0 : 1;
    try {
      let bytes: Uint8Array;
      try {
        bytes = encode(report);
      } catch (e) {
        code = 1;
        bytes = encode(errorReport(
          "run",
          new TypeError(`Cannot return result from worker as it is not plain data: ${(e as Error).message}`, {
            cause: e,
          }),
        ));
      }
      const tmp = path.join(dir, `${REPORT_FILE}.tmp`);
      fs.writeFileSync(tmp, bytes);
      fs.renameSync(tmp, path.join(dir, REPORT_FILE));
    } catch {
      // the exchange directory is gone (the parent died): exit all the same
      code = 1;
    }
    // let what the function printed reach the parent's stdout before exiting
    // and what its pipe ends sent reach the relay
    Promise.all([flush(process.stdout), flush(process.stderr), closeReceivedPipes()]).finally(() => process.exit(code));
  };
}

async function run(start: StartCommon, finish: Finish, running: () => void = () => {}): Promise<void> {
  const fail = (phase: FailurePhase) => (e: unknown) => once(finish, errorReport(phase, e));
  // errors the function leaves unhandled fail it; after the report they are moot
  process.on("uncaughtException", fail("run"));
  process.on("unhandledRejection", fail("run"));

  let fn: (...args: unknown[]) => unknown;
  let args: unknown[];
  try {
    const mod = await import(start.url);
    if (typeof mod.default !== "function") {
      throw new TypeError(
        `Cannot spawn worker as its module has no default export function: received ${typeof mod.default}`,
      );
    }
    fn = mod.default;
    args = await attachPipes(await fromWire(start.wire));
  } catch (e) {
    return fail("spawn")(e);
  }
  const done = (value: unknown) => once(finish, okReport(toWire([value])[0]));
  let value: unknown;
  running();
  try {
    value = fn(...args);
  } catch (e) {
    return fail("run")(e);
  }
  // a plain value is reported at once, before anything the function queued can fail it
  if (typeof (value as PromiseLike<unknown> | null)?.then === "function") {
    (value as PromiseLike<unknown>).then(done, fail("run"));
  } else {
    done(value);
  }
}

/**
 * Ends this daemon child once `parent` is no longer its parent: the parent
 * died (even by SIGKILL, which leaves it no chance to clean up) and this
 * process was reparented. The timer does not keep the child alive.
 */
function watchParent(parent: number): void {
  const check = () => {
    if (process.ppid !== parent) process.exit(1);
  };
  check();
  const timer = setInterval(check, PARENT_WATCH_MS);
  (timer as { unref?: () => void }).unref?.();
}

function isThreadStart(d: unknown): d is ThreadStart {
  return typeof d === "object" && d !== null && (d as ThreadStart).tag === REPORT_TAG;
}

if (!isMainThread && isThreadStart(workerData)) {
  const start = workerData;
  adoptRegistry(start.registry);
  setThreadId(start.id);
  if (runtime === "deno") {
    // see STOP_MESSAGE: the exit that follows is real, so the id is dead
    parentPort!.on("message", (m: unknown) => {
      if (m !== STOP_MESSAGE) return;
      markDead(start.id);
      process.exit(1);
    });
  }
  await run(start, threadFinish, () => Atomics.store(new Int32Array(start.phase), 0, PHASE_RUNNING));
} else if (process.env[SPAWN_ENV]) {
  const dir = process.env[SPAWN_ENV]!;
  delete process.env[SPAWN_ENV];
  const finish = processFinish(dir);
  let start: ProcessStart | undefined;
  try {
    start = decode(fs.readFileSync(path.join(dir, START_FILE))) as ProcessStart;
  } catch (e) {
    once(finish, errorReport("spawn", e));
  }
  if (start?.parent !== undefined) watchParent(start.parent);
  if (start) await run(start, finish);
}
