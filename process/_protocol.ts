/**
 * The wire between `spawn` and `_worker_entry.ts`: what a worker is started
 * with, what it reports back, and how errors and structures cross.
 *
 * A thread gets a {@linkcode ThreadStart} as its `workerData` and posts one
 * {@linkcode Report} to its parent. A child process gets the path of a fresh
 * private directory in the {@linkcode SPAWN_ENV} variable, reads a
 * {@linkcode ProcessStart} (codec bytes) from `start` in it and writes its
 * {@linkcode Report} to `report` (written aside, then renamed, so a report is
 * either whole or absent). The child's stdin, stdout and stderr stay free for
 * the user's code.
 * @module
 */
import * as os from "node:os";
import { isTaggedErrorName, reviveError, STANDARD_ERRORS as STANDARD } from "../errors.ts";

/** Tag of every message of this protocol (user code may post its own). */
export const REPORT_TAG = "procshare:spawn-report";
/**
 * The message a parent posts to a thread it terminates on Deno, whose
 * `terminate()` does not stop a thread that never yields: a thread whose
 * event loop is free marks its id dead and exits at once; a busy one halts
 * at its next procshare call (the stop bit of its id).
 */
export const STOP_MESSAGE = "procshare:stop";

/** Environment variable naming the child process's exchange directory. */
export const SPAWN_ENV = "PROCSHARE_SPAWN";

/** File of the exchange directory holding the {@linkcode ProcessStart}. */
export const START_FILE = "start";

/** File of the exchange directory holding the {@linkcode Report}. */
export const REPORT_FILE = "report";

/** What every worker is told: the module and its wire arguments. */
export interface StartCommon {
  /** `file:` URL of the user's module. */
  readonly url: string;
  /** `toWire(args)`: structures replaced by their handles. */
  readonly wire: readonly unknown[];
}

/** `workerData` of a thread. */
export interface ThreadStart extends StartCommon {
  readonly tag: typeof REPORT_TAG;
  /** The parent's thread registry, adopted before any user code runs. */
  readonly registry: SharedArrayBuffer;
  /** The registry id the parent reserved for this worker. */
  readonly id: number;
  /**
   * One Int32 word, {@linkcode PHASE_LOADING} until the entry calls the
   * user's function, then {@linkcode PHASE_RUNNING}: tells the parent whether
   * an error the worker could not report (Bun's test runner bypasses
   * `unhandledRejection` handlers in workers) failed the load or the function.
   */
  readonly phase: SharedArrayBuffer;
  /** The entry module the `.mjs` bootstrap imports. */
  readonly entry: string;
  /** Whether the bootstrap must register the tsx loader first (Node only). */
  readonly typescript: boolean;
}

/** Value of the phase word while the entry loads the module and arguments. */
export const PHASE_LOADING = 0;
/** Value of the phase word once the user's function has been called. */
export const PHASE_RUNNING = 1;

/** Content of the `start` file of a child process. */
export interface ProcessStart extends StartCommon {
  /**
   * The parent's pid when the child is a daemon: the child exits once its
   * parent is no longer this pid (it died and the child was reparented).
   */
  readonly parent?: number;
}

/** How often a daemon child process checks that its parent still lives. */
export const PARENT_WATCH_MS = 200;

/** An error flattened to plain data. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  /** `_tag` of a tagged (procshare or Effect) error. */
  readonly tag?: string;
  /** `reason` of a procshare error. */
  readonly reason?: string;
  /** `code` of a Node-style error (`ERR_…`, `ENOENT`). */
  readonly code?: string | number;
  /** `exitCode` of a `WorkerError` (a worker that spawned a worker). */
  readonly exitCode?: number;
  readonly cause?: SerializedError;
}

/** Where a worker failed: before the user's function ran, or in it. */
export type FailurePhase = "spawn" | "run";

/** The one message a worker sends back. */
export type Report =
  | {
    readonly tag: typeof REPORT_TAG;
    readonly ok: true;
    /** `toWire([result])[0]`. */
    readonly value: unknown;
  }
  | {
    readonly tag: typeof REPORT_TAG;
    readonly ok: false;
    readonly phase: FailurePhase;
    readonly error: SerializedError;
  };

/** True for a message of this protocol. */
export function isReport(m: unknown): m is Report {
  return typeof m === "object" && m !== null && (m as Report).tag === REPORT_TAG &&
    typeof (m as Report).ok === "boolean";
}

/** A success report. */
export function okReport(value: unknown): Report {
  return { tag: REPORT_TAG, ok: true, value };
}

/** A failure report. */
export function errorReport(phase: FailurePhase, error: unknown): Report {
  return { tag: REPORT_TAG, ok: false, phase, error: serializeError(error) };
}

function describeThrown(v: unknown): string {
  if (typeof v === "string") return v;
  try {
    const json = JSON.stringify(v);
    if (json !== undefined) return json;
  } catch {
    // fall through
  }
  return String(v);
}

/** Flattens anything thrown to plain data (depth-limited through `cause`). */
export function serializeError(e: unknown, depth = 0): SerializedError {
  if (typeof e !== "object" || e === null || !("message" in e)) {
    return { name: "Error", message: `Uncaught ${describeThrown(e)}` };
  }
  const o = e as Record<string, unknown>;
  const out: {
    -readonly [K in keyof SerializedError]: SerializedError[K];
  } = {
    name: typeof o.name === "string" ? o.name : "Error",
    message: String(o.message),
  };
  if (typeof o.stack === "string") out.stack = o.stack;
  if (typeof o._tag === "string") out.tag = o._tag;
  if (typeof o.reason === "string") out.reason = o.reason;
  if (typeof o.code === "string" || typeof o.code === "number") out.code = o.code;
  if (typeof o.exitCode === "number") out.exitCode = o.exitCode;
  if (o.cause !== undefined && depth < 8) out.cause = serializeError(o.cause, depth + 1);
  return out;
}

/**
 * Rebuilds an error flattened by {@linkcode serializeError}: procshare's own
 * errors as their classes, standard errors as theirs, anything else as an
 * `Error` with the original `name`; the worker's stack, `_tag`, `reason` and
 * `code` are kept.
 */
export function rebuildError(s: SerializedError): Error {
  const cause = s.cause ? rebuildError(s.cause) : undefined;
  let e: Error;
  if (isTaggedErrorName(s.tag)) {
    e = reviveError(s.tag!, s.reason ?? "", s.message, { cause, exitCode: s.exitCode });
  } else {
    const Ctor = Object.hasOwn(STANDARD, s.name) ? STANDARD[s.name] : Error;
    e = new Ctor(s.message);
    if (cause !== undefined) Object.defineProperty(e, "cause", { value: cause, writable: true, configurable: true });
    if (e.name !== s.name) Object.defineProperty(e, "name", { value: s.name, writable: true, configurable: true });
    const extra = e as unknown as Record<string, unknown>;
    if (s.tag !== undefined) extra._tag = s.tag;
    if (s.reason !== undefined) extra.reason = s.reason;
  }
  if (s.code !== undefined) (e as unknown as Record<string, unknown>).code = s.code;
  if (s.stack !== undefined) Object.defineProperty(e, "stack", { value: s.stack, writable: true, configurable: true });
  return e;
}

const EXT = /(\.[cm]?[jt]s)$/.exec(new URL(import.meta.url).pathname)?.[1] ?? ".ts";

/** A module of this package beside this one, with this file's extension (`.ts` here, `.js` when built). */
export function packageModule(relative: string): URL {
  return new URL(`${relative}${EXT}`, import.meta.url);
}

/**
 * The path inside `value` of a SharedArrayBuffer (or a view of one), if any:
 * such memory cannot cross into another process.
 */
export function findSharedBuffer(value: unknown, path: string, seen = new Set<unknown>()): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  if (value instanceof SharedArrayBuffer) return path;
  if (ArrayBuffer.isView(value)) return value.buffer instanceof SharedArrayBuffer ? path : undefined;
  if (seen.has(value)) return undefined;
  seen.add(value);
  if (value instanceof Map) {
    for (const [k, v] of value) {
      const hit = findSharedBuffer(k, `${path} key`, seen) ?? findSharedBuffer(v, `${path}.get(${String(k)})`, seen);
      if (hit) return hit;
    }
    return undefined;
  }
  if (value instanceof Set) {
    for (const v of value) {
      const hit = findSharedBuffer(v, `${path} item`, seen);
      if (hit) return hit;
    }
    return undefined;
  }
  for (const k of Object.keys(value)) {
    const hit = findSharedBuffer(
      (value as Record<string, unknown>)[k],
      Array.isArray(value) ? `${path}[${k}]` : `${path}.${k}`,
      seen,
    );
    if (hit) return hit;
  }
  return undefined;
}

/** How an error message names a value it received: a string quoted, an object by its class. */
export function received(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v !== "object" || v === null) return String(v);
  if (Array.isArray(v)) return "an array";
  const name = Object.getPrototypeOf(v)?.constructor?.name;
  return name && name !== "Object" ? `a ${name}` : "an object";
}

/** The number of a signal name (`"SIGKILL"` → 9); 0 for a name this platform does not know. */
export function signalNumber(signal: string): number {
  const n = (os.constants.signals as Record<string, number | undefined>)[signal];
  return typeof n === "number" ? n : 0;
}
