/**
 * The wire between `Pool` (pool.ts) and its long-lived workers
 * (`_pool_worker.ts`): how a worker is started, the tasks it is sent and
 * what it sends back.
 *
 * A thread gets a {@linkcode PoolThreadStart} as its `workerData` (through
 * `_bootstrap.mjs`) and talks over its `parentPort` (structured clone). A
 * child process is started with {@linkcode POOL_ENV} naming a unix socket in
 * a private (0700) directory of the parent and {@linkcode POOL_KEY_ENV} a
 * random key; it connects, says {@linkcode Hello} with its key, receives its
 * {@linkcode PoolStart}, then the same messages as a thread, each one a
 * length-prefixed frame (`_frame.ts`) of codec bytes. Its stdin, stdout and
 * stderr stay free for the user's code.
 *
 * Every message after the start: the parent sends {@linkcode TaskMessage}s
 * (a chunk of items each) and one {@linkcode ExitMessage}; the worker answers
 * {@linkcode ReadyMessage} or {@linkcode FailedMessage} once, then one
 * {@linkcode DoneMessage} per task in the order the tasks came, and
 * {@linkcode FatalMessage} just before it dies of an error no task caught.
 * @module
 */
import type { SerializedError } from "./_protocol.ts";

/** Tag of a pool thread's `workerData`. */
export const POOL_TAG = "procshare:pool";

/** Environment variable naming the unix socket a pool's child process connects to. */
export const POOL_ENV = "PROCSHARE_POOL";

/** Environment variable holding the key a child process presents in its {@linkcode Hello}. */
export const POOL_KEY_ENV = "PROCSHARE_POOL_KEY";

/** What every pool worker loads: the module, the task export, the initializer. */
export interface PoolStart {
  /** `file:` URL of the user's module. */
  readonly url: string;
  /** Name of the export that runs each task (`"default"` by default). */
  readonly export: string;
  /** Name of an export run once before the first task, or `null`. */
  readonly initializer: string | null;
  /** `toWire(initArgs)`. */
  readonly initArgs: readonly unknown[];
  /** Whether `initArgs` hold structures (`fromWire` needed). */
  readonly initWired: boolean;
}

/** `workerData` of a pool thread. */
export interface PoolThreadStart extends PoolStart {
  readonly tag: typeof POOL_TAG;
  /** The parent's thread registry, adopted before any user code runs. */
  readonly registry: SharedArrayBuffer;
  /** The registry id the parent reserved for this worker. */
  readonly id: number;
  /** The entry module the `.mjs` bootstrap imports (`_pool_worker`). */
  readonly entry: string;
  /** Whether the bootstrap must register the tsx loader first (Node only). */
  readonly typescript: boolean;
}

/** First message of a child process: the key it was started with. */
export interface Hello {
  readonly t: "hello";
  readonly key: string;
}

/** The parent's answer to a {@linkcode Hello}. */
export interface StartMessage {
  readonly t: "start";
  readonly start: PoolStart;
}

/** A chunk of items to run, in order. */
export interface TaskMessage {
  readonly t: "task";
  /** Task number, unique in the pool. */
  readonly id: number;
  /**
   * The items, through `toWire` when {@linkcode TaskMessage.wired}; a
   * `Float64Array` when every item is a number (see {@linkcode packNumbers}).
   */
  readonly items: readonly unknown[] | Float64Array;
  /** Whether `items` hold structures (`fromWire` needed). */
  readonly wired: boolean;
  /** Each item is an argument list (`fn(...item)`) rather than the one argument (`fn(item)`). */
  readonly star: boolean;
}

/** Asks the worker to exit once the tasks it was sent are done. */
export interface ExitMessage {
  readonly t: "exit";
}

/** Asks a Deno thread to exit now (its `terminate()` may not stop it). */
export interface StopMessage {
  readonly t: "stop";
}

/** Message from the parent. */
export type ToWorker = StartMessage | TaskMessage | ExitMessage | StopMessage;

/** The module loaded and the initializer ran: the worker takes tasks. */
export interface ReadyMessage {
  readonly t: "ready";
}

/** The worker could not load the module, find the export or run the initializer. */
export interface FailedMessage {
  readonly t: "failed";
  readonly error: SerializedError;
}

/** The results of one {@linkcode TaskMessage}. */
export interface DoneMessage {
  readonly t: "done";
  readonly id: number;
  /**
   * One per item (`null` where the item failed), through `toWire` when
   * {@linkcode DoneMessage.wired}; a `Float64Array` when every value is a
   * number (see {@linkcode packNumbers}).
   */
  readonly values: readonly unknown[] | Float64Array;
  /** Whether `values` hold structures. */
  readonly wired: boolean;
  /** `[index, error]` of every item that threw. */
  readonly errors: ReadonlyArray<readonly [number, SerializedError]>;
  /** Milliseconds the worker spent on the task (attaching its items, running them). */
  readonly ms: number;
}

/** An error no task caught (an unhandled rejection, an uncaught exception): the worker exits next. */
export interface FatalMessage {
  readonly t: "fatal";
  readonly error: SerializedError;
}

/** Message from a worker. */
export type FromWorker = Hello | ReadyMessage | FailedMessage | DoneMessage | FatalMessage;

/** True for a `workerData` of a pool thread. */
export function isPoolThreadStart(d: unknown): d is PoolThreadStart {
  return typeof d === "object" && d !== null && (d as PoolThreadStart).tag === POOL_TAG;
}

/** True for an object with a string `t`: a message of this protocol (checked further by its reader). */
export function isMessage(m: unknown): m is { readonly t: string } {
  return typeof m === "object" && m !== null && typeof (m as { t?: unknown }).t === "string";
}

/**
 * `values` as a `Float64Array` when every one is a number, else `undefined`.
 * A chunk of numbers crosses as one block of bytes rather than value by
 * value: structured clone copies (or transfers) it at once, and the codec
 * writes it as one typed-array tag instead of encoding and decoding each
 * number, about ten times faster on Node. A `Float64Array` holds every
 * JavaScript number exactly (`-0`, `NaN` and the infinities included).
 */
export function packNumbers(values: ArrayLike<unknown>): Float64Array | undefined {
  const n = values.length;
  for (let i = 0; i < n; i++) if (typeof values[i] !== "number") return undefined;
  const packed = new Float64Array(n);
  for (let i = 0; i < n; i++) packed[i] = values[i] as number;
  return packed;
}
