/**
 * The first module of every `Pool` worker, thread or process (see
 * `_pool_protocol.ts`). It joins the parent's thread registry (threads
 * only), imports the user's module, runs the initializer, then runs the
 * tasks it is sent one after the other, each item of a chunk in order, and
 * answers each task with its values and the errors of the items that threw.
 * An error no task caught ends the worker, after telling the parent.
 * @module
 */
import * as net from "node:net";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { hasHandle } from "../core/backend.ts";
import { decode, encode } from "../transports/_codec.ts";
import { frame, FrameDecoder } from "../transports/_frame.ts";
import { adoptRegistry, markDead, setThreadId } from "../transports/_runtime/threads.ts";
import { runtime } from "../transports/_runtime/runtime.ts";
import { serializeError } from "./_protocol.ts";
import {
  type DoneMessage,
  type FromWorker,
  isMessage,
  isPoolThreadStart,
  packNumbers,
  POOL_ENV,
  POOL_KEY_ENV,
  type PoolStart,
  type StartMessage,
  type TaskMessage,
  type ToWorker,
} from "./_pool_protocol.ts";

/** How this worker talks to its pool. */
interface Channel {
  /** Sends a message; throws when it cannot be cloned or encoded. */
  send(m: FromWorker): void;
  /** Ends the worker with `code` once what was sent has left. */
  exit(code: number): void;
}

type Task = (...args: unknown[]) => unknown;

type AttachModule = typeof import("../attach.ts");
let attachModule: Promise<AttachModule> | undefined;
/**
 * `attach.ts` (toWire, fromWire), loaded on first need: it loads every kind
 * of structure, which a pool of plain-data tasks never uses, and a worker
 * starts faster without (tsx compiles each module again in every thread).
 */
function attachLib(): Promise<AttachModule> {
  return attachModule ??= import("../attach.ts");
}

/** Whether `v` holds a structure at some depth of arrays and plain objects (as `toWire` looks). */
function holdsStructure(v: unknown, depth = 0): boolean {
  if (typeof v !== "object" || v === null || depth > 64) return false;
  if (hasHandle(v)) return true;
  if (Array.isArray(v)) return v.some((x) => holdsStructure(x, depth + 1));
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const k in v) if (holdsStructure((v as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

async function load(start: PoolStart): Promise<Task> {
  const mod = await import(start.url) as Record<string, unknown>;
  const fn = mod[start.export];
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot start pool worker as its module has no function export '${start.export}': received ${typeof fn}`,
    );
  }
  if (start.initializer !== null) {
    const init = mod[start.initializer];
    if (typeof init !== "function") {
      throw new TypeError(
        `Cannot start pool worker as its module has no function export '${start.initializer}' (the initializer): received ${typeof init}`,
      );
    }
    await init(...(start.initWired ? await (await attachLib()).fromWire(start.initArgs) : start.initArgs));
  }
  return fn as Task;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === "object" || typeof v === "function") && v !== null &&
    typeof (v as PromiseLike<unknown>).then === "function";
}

async function runTask(fn: Task, m: TaskMessage): Promise<DoneMessage> {
  const t0 = performance.now();
  const n = m.items.length;
  const values: unknown[] = new Array(n);
  const errors: Array<readonly [number, ReturnType<typeof serializeError>]> = [];
  let items: ArrayLike<unknown>;
  try {
    items = m.wired ? await (await attachLib()).fromWire(m.items as readonly unknown[]) : m.items;
  } catch (e) {
    // the structures of this chunk cannot be attached here: every item fails
    const error = serializeError(e);
    for (let i = 0; i < n; i++) {
      values[i] = null;
      errors.push([i, error]);
    }
    return { t: "done", id: m.id, values, wired: false, errors, ms: performance.now() - t0 };
  }
  let wired = false;
  for (let i = 0; i < n; i++) {
    try {
      let v = m.star ? fn(...(items[i] as unknown[])) : fn(items[i]);
      if (isThenable(v)) v = await v;
      if (holdsStructure(v)) {
        v = (await attachLib()).toWire([v])[0];
        wired = true;
      }
      values[i] = v === undefined ? null : v;
    } catch (e) {
      values[i] = null;
      errors.push([i, serializeError(e)]);
    }
  }
  const packed = wired || errors.length > 0 ? undefined : packNumbers(values);
  return { t: "done", id: m.id, values: packed ?? values, wired, errors, ms: performance.now() - t0 };
}

/** Sends `done`; values that cannot cross become errors of their items. */
function sendDone(channel: Channel, done: DoneMessage, check: (v: unknown) => void): void {
  try {
    channel.send(done);
    return;
  } catch {
    // find the values at fault
  }
  const values = Array.from(done.values);
  const errors = [...done.errors];
  for (let i = 0; i < values.length; i++) {
    try {
      check(values[i]);
    } catch (e) {
      values[i] = null;
      errors.push([
        i,
        serializeError(
          new TypeError(`Cannot return result from pool task as it cannot cross to the pool: ${(e as Error).message}`, {
            cause: e,
          }),
        ),
      ]);
    }
  }
  channel.send({ ...done, values, errors });
}

/** Runs the worker: load, then tasks in order until told to exit. */
function serve(start: PoolStart, channel: Channel, check: (v: unknown) => void): (m: ToWorker) => void {
  const queue: TaskMessage[] = [];
  let fn: Task | undefined;
  let running = false;
  let exiting = false;
  const fatal = (e: unknown) => {
    try {
      channel.send({ t: "fatal", error: serializeError(e) });
    } catch {
      // the pool is gone
    }
    channel.exit(1);
  };
  process.on("uncaughtException", fatal);
  process.on("unhandledRejection", fatal);

  const pump = async () => {
    if (running || fn === undefined) return;
    running = true;
    while (queue.length > 0) {
      sendDone(channel, await runTask(fn, queue.shift()!), check);
    }
    running = false;
    if (exiting) channel.exit(0);
  };
  load(start).then(
    (f) => {
      fn = f;
      channel.send({ t: "ready" });
      void pump();
    },
    (e) => {
      try {
        channel.send({ t: "failed", error: serializeError(e) });
      } catch {
        // the pool is gone
      }
      channel.exit(1);
    },
  );
  return (m) => {
    if (m.t === "task") {
      queue.push(m);
      void pump();
    } else if (m.t === "exit") {
      exiting = true;
      if (!running && queue.length === 0) channel.exit(0);
    }
  };
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

if (!isMainThread && isPoolThreadStart(workerData)) {
  const start = workerData;
  adoptRegistry(start.registry);
  setThreadId(start.id);
  const port = parentPort!;
  const channel: Channel = {
    // a chunk of numbers moves to the pool rather than being copied
    send: (m) =>
      port.postMessage(m, m.t === "done" && m.values instanceof Float64Array ? [m.values.buffer as ArrayBuffer] : []),
    exit: (code) => process.exit(code),
  };
  const onMessage = serve(start, channel, (v) => structuredClone(v));
  port.on("message", (m: unknown) => {
    if (!isMessage(m)) return;
    if (m.t === "stop") {
      // Deno: terminate() may not stop this thread; a free event loop exits here
      if (runtime === "deno") markDead(start.id);
      process.exit(1);
    }
    onMessage(m as ToWorker);
  });
} else if (process.env[POOL_ENV]) {
  const socketPath = process.env[POOL_ENV]!;
  const key = process.env[POOL_KEY_ENV] ?? "";
  delete process.env[POOL_ENV];
  delete process.env[POOL_KEY_ENV];
  const socket = net.createConnection({ path: socketPath });
  let exited = false;
  const channel: Channel = {
    send: (m) => void socket.write(frame(encode(m))),
    exit: (code) => {
      if (exited) return;
      exited = true;
      // let what the tasks printed, and the last message, leave before exiting
      Promise.all([
        flush(process.stdout),
        flush(process.stderr),
        new Promise<void>((resolve) => socket.end(() => resolve())),
      ]).finally(() => process.exit(code));
    },
  };
  socket.on("error", () => process.exit(1));
  // the pool is gone (it exited or was killed): so is this worker
  socket.on("close", () => {
    if (!exited) process.exit(1);
  });
  socket.once("connect", () => channel.send({ t: "hello", key }));
  const decoder = new FrameDecoder();
  let onMessage: ((m: ToWorker) => void) | undefined;
  socket.on("data", (chunk: Uint8Array) => {
    decoder.push(chunk, (payload) => {
      const m = decode(payload);
      if (!isMessage(m)) return;
      if (m.t === "start") {
        onMessage ??= serve((m as StartMessage).start, channel, (v) => encode(v));
      } else {
        onMessage?.(m as ToWorker);
      }
    });
  });
}
