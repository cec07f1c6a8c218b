/**
 * `Pipe()`: two connected {@linkcode Connection}s, Python's
 * `multiprocessing.Pipe`. Either end can be passed in `spawn` args to a
 * thread or a process; values are procshare's codec data (plain objects,
 * arrays, Map, Set, Date, typed arrays, bigint).
 *
 * @example Ping-pong with a worker thread
 * ```ts
 * import { Pipe, spawn } from "../mod.ts";
 * // echo.ts: export default async (conn) => { for await (const v of conn) await conn.send(v); };
 * const [here, there] = Pipe();
 * const w = spawn(new URL("./echo.ts", import.meta.url), { args: [there] });
 * await here.send({ n: 1 });
 * console.log(await here.recv()); // { n: 1 }
 * here.close();
 * await w.join();
 * ```
 * @module
 */
import { RingConnection } from "./_connections.ts";
import { MAX_CAPACITY, Ring } from "./_ring.ts";

/**
 * Options of {@linkcode Pipe}.
 *
 * @example A one-way pipe with a large buffer
 * ```ts
 * import { Pipe, type PipeOptions } from "./pipe.ts";
 * const options: PipeOptions = { duplex: false, capacity: 1 << 20 };
 * const [reader, writer] = Pipe(options);
 * console.log(reader.readable, writer.writable); // true true
 * ```
 */
export interface PipeOptions {
  /**
   * `true` (default): both ends send and receive. `false`: the first end
   * only receives and the second only sends, as in Python.
   */
  readonly duplex?: boolean;
  /**
   * Bytes buffered in each direction (default 64 KiB, rounded up to a power
   * of two): a sender waits while its peer's buffer is full. Longer
   * messages stream through it.
   */
  readonly capacity?: number;
}

/**
 * Options of {@linkcode Connection.recv} and {@linkcode Connection.recvBytes}.
 *
 * @example Waiting at most 100 ms
 * ```ts
 * import { Pipe, type RecvOptions } from "./pipe.ts";
 * const [a] = Pipe();
 * const options: RecvOptions = { timeout: 100 };
 * await a.recv(options).catch((e) => console.log(e.reason)); // Timeout
 * ```
 */
export interface RecvOptions {
  /** Milliseconds to wait at most (default: forever); then `PipeError("Timeout")`. */
  readonly timeout?: number;
  /** Cancels the wait with `PipeError("Aborted")`. */
  readonly signal?: AbortSignal;
}

/**
 * One end of a {@linkcode Pipe}, Python's `multiprocessing.connection.Connection`.
 *
 * `send` encodes a value with procshare's codec and `recv` decodes it;
 * `sendBytes` and `recvBytes` carry raw bytes. Each message arrives whole
 * and in order. Iterating (`for await`) receives until the peer closed.
 * `using` closes the end.
 *
 * An end passed in `spawn` args belongs to that worker from then on: here
 * it is closed (its methods throw `PipeError("Closed")`, `close()` does
 * nothing), and when the worker exits its side is closed for it, so the
 * peer's `recv` ends with `PipeError("EOF")` once it has read everything.
 * An end that a process received cannot be passed on again.
 *
 * **Fairness**: one sender and one receiver per end at a time, as in
 * Python; calls on the same end in one thread are queued in call order.
 * Two threads using one end at once would interleave frames: give each
 * worker its own pipe.
 *
 * **Cancellation**: a `recv` that times out or is aborted before a message
 * started arriving takes nothing; one whose message has begun to arrive
 * finishes it first. `send` cannot be cancelled: it resolves once the
 * message is in the peer's buffer (between threads) or in the socket
 * (to or from a process).
 *
 * **Visibility**: a message is visible to `recv` once `send` resolved.
 *
 * **Transports**: between threads, two byte rings in SharedArrayBuffers
 * (with `sendSync`, `recvSync`, `pollSync`); to a process, the same rings
 * in the process that made the pipe, relayed over a unix socket that the
 * child connects to (async methods only; see docs/decisions.md).
 *
 * @example Receiving with a timeout
 * ```ts
 * import { Pipe, PipeError } from "../mod.ts";
 * const [a, b] = Pipe();
 * await b.send([42, null, "hello"]);
 * console.log(await a.recv()); // [42, null, "hello"]
 * await a.recv({ timeout: 10 }).catch((e) => console.log(e instanceof PipeError && e.reason)); // Timeout
 * ```
 */
export interface Connection<T = unknown> extends Disposable, AsyncIterable<T> {
  /** Whether this end can receive. */
  readonly readable: boolean;
  /** Whether this end can send. */
  readonly writable: boolean;
  /** True once closed, or passed to a worker. */
  readonly closed: boolean;
  /**
   * Sends a value (procshare's codec: a `CodecError` for what it refuses).
   * Waits while the peer's buffer is full; `PipeError("BrokenPipe")` when
   * the peer closed.
   */
  send(value: T): Promise<void>;
  /** Sends `bytes` (from `offset`, `size` of them) as one message. */
  sendBytes(bytes: Uint8Array, offset?: number, size?: number): Promise<void>;
  /**
   * Receives the next value; `PipeError("EOF")` once the peer closed and
   * nothing is left, `"Timeout"` or `"Aborted"` per the options.
   */
  recv(options?: RecvOptions): Promise<T>;
  /** Receives the next message as bytes (what `sendBytes` sent). */
  recvBytes(options?: RecvOptions): Promise<Uint8Array>;
  /**
   * Whether `recv` would not wait: a message is there, or the peer closed.
   * Waits at most `timeout` ms (default 0) for one.
   */
  poll(timeout?: number): Promise<boolean>;
  /** Closes this end (idempotent): the peer's `recv` gets EOF after the rest, its `send` BrokenPipe. */
  close(): void;
  /** {@linkcode Connection.send}, blocking this thread (threads only: a `TypeError` on a process's end). */
  sendSync(value: T): void;
  /** {@linkcode Connection.sendBytes}, blocking this thread. */
  sendBytesSync(bytes: Uint8Array, offset?: number, size?: number): void;
  /** {@linkcode Connection.recv}, blocking this thread (`timeout` only). */
  recvSync(options?: { readonly timeout?: number }): T;
  /** {@linkcode Connection.recvBytes}, blocking this thread. */
  recvBytesSync(options?: { readonly timeout?: number }): Uint8Array;
  /** {@linkcode Connection.poll}, blocking this thread. */
  pollSync(timeout?: number): boolean;
}

/** Default bytes buffered in each direction. */
const DEFAULT_CAPACITY = 64 * 1024;

function received(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : typeof v === "object" && v !== null ? "an object" : String(v);
}

/**
 * Creates a pipe and returns its two ends, Python's `Pipe(duplex)`. With
 * `duplex: false` the first end only receives and the second only sends.
 * Throws a `TypeError` for bad options.
 *
 * @example The Python docs' example: a process sends, the parent receives
 * ```ts
 * import { Pipe, spawn } from "../mod.ts";
 * // f.ts: export default async (conn) => { await conn.send([42, null, "hello"]); conn.close(); };
 * const [parentConn, childConn] = Pipe();
 * const p = spawn(new URL("./f.ts", import.meta.url), { args: [childConn], as: "process" });
 * console.log(await parentConn.recv()); // [ 42, null, "hello" ]
 * await p.join();
 * ```
 *
 * @example A one-way pipe between threads, synchronously
 * ```ts
 * import { Pipe } from "./pipe.ts";
 * const [reader, writer] = Pipe({ duplex: false });
 * writer.sendSync("hi");
 * console.log(reader.recvSync()); // hi
 * ```
 */
export function Pipe<T = unknown>(options?: PipeOptions): [Connection<T>, Connection<T>] {
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new TypeError(`Cannot create pipe as 'options' must be an object: received ${received(options)}`);
  }
  const duplex = options?.duplex ?? true;
  if (typeof duplex !== "boolean") {
    throw new TypeError(`Cannot create pipe as 'duplex' must be a boolean: received ${received(duplex)}`);
  }
  const capacity = options?.capacity ?? DEFAULT_CAPACITY;
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
    throw new TypeError(
      `Cannot create pipe as 'capacity' must be an integer from 1 to ${MAX_CAPACITY}: received ${received(capacity)}`,
    );
  }
  const ab = Ring.create(capacity); // first end → second end
  if (!duplex) return [new RingConnection<T>(ab, undefined), new RingConnection<T>(undefined, ab)];
  const ba = Ring.create(capacity);
  return [new RingConnection<T>(ba, ab), new RingConnection<T>(ab, ba)];
}
