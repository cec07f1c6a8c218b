/**
 * The client of a manager server: opens structures by kind and name and calls
 * their operations; many calls may be in flight on one connection.
 *
 * {@linkcode connect} dials a unix socket or a TCP port; the client itself
 * needs nothing but a {@linkcode Duplex}, so {@linkcode connectOver} runs the
 * same client over any byte stream (a child process's pipe). The connection
 * starts with the handshake of `_auth.ts`: the client sends no request before
 * the server has proved the authkey too. Then every frame is a request or a
 * reply of `_wire.ts`.
 *
 * @example Connecting, opening and calling
 * ```ts
 * import { connect } from "./client.ts";
 * import { startServer } from "./server.ts";
 * import { KINDS } from "../../kinds.ts";
 * await using server = await startServer({ address: "tcp://127.0.0.1:0", kinds: KINDS });
 * await using client = await connect(server.address, { authkey: server.authkey });
 * const { id } = await client.open("dict", "scores", []);
 * await client.call(id, "set", ["a", 1]);
 * console.log(await client.call(id, "get", ["a"])); // 1
 * ```
 * @module
 */
import type { Remote } from "../../core/backend.ts";
import { TransportError } from "../../errors.ts";
import { ClientHandshake, MAX_HANDSHAKE_FRAME_BYTES, toAuthkey } from "../_auth.ts";
import type { Duplex } from "../_duplex.ts";
import { checkMaxFrameBytes, frame, FRAME_LIMIT_HINT, FrameDecoder, FrameWriter } from "../_frame.ts";
import { HOST_ID } from "../_host.ts";
import { connectTo, type NetSocket } from "../_runtime/net.ts";
import {
  type CallId,
  checkHandshakeTimeout,
  encodeRequest,
  fromWireError,
  type OpenResult,
  parseReply,
  STATUS_OK,
  type WireRequest,
} from "../_wire.ts";
import { formatAddress, missingDirectory, type SocketAddress, socketAddress } from "./address.ts";

/**
 * Options of {@linkcode connect}.
 *
 * @example
 * ```ts
 * import type { ConnectOptions } from "./client.ts";
 * const options: ConnectOptions = { authkey: "s3cret", maxFrameBytes: 1 << 20 };
 * ```
 */
export interface ConnectOptions {
  /** The server's authkey. */
  readonly authkey: Uint8Array | string;
  /** Largest frame accepted from (and sent to) the server; 64 MiB by default. */
  readonly maxFrameBytes?: number;
  /** Fail with `TransportError("Connect")` if the handshake takes longer; 5000 by default. */
  readonly handshakeTimeoutMs?: number;
}

/**
 * Options of one remote call.
 *
 * @example
 * ```ts
 * import type { CallOptions } from "./client.ts";
 * const options: CallOptions = { signal: AbortSignal.timeout(100) };
 * ```
 */
export interface CallOptions {
  /**
   * Cancels the call: the client sends a cancel frame, the server aborts the
   * operation's `ctx.signal`, and the server's answer settles the call.
   *
   * **Cancellation**: cancel-safe. If the operation failed (it saw the abort),
   * the call rejects with an `Error` named `"AbortError"` whose `cause` is
   * `signal.reason`; callers map it to their own error (`LockError("Aborted")`,
   * `QueueError("Timeout")`, …). If the operation completed on the server
   * before the cancel reached it, the call resolves with its result — a lock
   * acquired or an item taken is never lost to an abort that came too late;
   * a caller that no longer wants it must undo it (release, put back). An
   * already-aborted signal rejects at once and sends nothing. If the
   * connection drops meanwhile, the call rejects with `TransportError("Closed")`.
   */
  readonly signal?: AbortSignal;
}

/**
 * A connection to a manager server. Calls may be issued concurrently; they
 * are pipelined on the one connection. While no call is pending the
 * connection does not keep the process alive, so a worker that is done exits
 * without closing.
 *
 * Failures: errors thrown by the remote operation are revived
 * (`LockError`, `QueueError`, `TransportError("UnknownOperation")`, …); if
 * the connection drops, every pending call rejects with
 * `TransportError("Closed")` and so does every later call.
 *
 * @example Opening a named structure and calling it
 * ```ts
 * import { connect } from "./client.ts";
 * const client = await connect("unix:/tmp/app.sock", { authkey: "s3cret" });
 * const { id } = await client.open("dict", "scores", []);
 * await client.call(id, "set", ["a", 1]);
 * await client.close();
 * ```
 */
export interface SocketClient extends AsyncDisposable {
  /** The server's address, as given to {@linkcode connect} (normalised). */
  readonly address: string;
  /**
   * Settles when the connection has ended: with `undefined` after
   * {@linkcode SocketClient.close}, or with the `TransportError` that ended it.
   * Never rejects.
   */
  readonly closed: Promise<TransportError | undefined>;
  /** True once the connection has ended. */
  readonly isClosed: boolean;
  /** Opens the structure `name` of `kind` (creating it from `params` if new); anonymous when `name` is null or undefined. */
  open(kind: string, name: string | null | undefined, params: readonly unknown[]): Promise<OpenResult>;
  /** Calls operation `op` of structure `id`. */
  call(id: number, op: string, args: readonly unknown[], options?: CallOptions): Promise<unknown>;
  /**
   * The random instance id of the server this connection reached (asked once
   * per connection, then remembered): a server started again on the same
   * address has another, so a handle can tell its server is gone.
   */
  instance(): Promise<string>;
  /**
   * One more reference to structure `id` for this connection: the server
   * frees an anonymous structure when no connection holds one. Fails with
   * `TransportError("NotFound")` when it is already gone.
   */
  retain(id: number): Promise<void>;
  /**
   * Gives back one of this connection's references to `id`, without waiting:
   * the releases of one turn go in one request. Nothing to do once the
   * connection has ended (the server gave them all back then).
   */
  release(id: number): void;
  /** Closes the connection; pending calls reject with `TransportError("Closed")`. Idempotent. */
  close(): Promise<void>;
}

/**
 * Connects to a manager server and completes the mutual handshake.
 *
 * Fails with `TransportError("Connect")` when nothing listens at the address
 * or the handshake times out, `TransportError("Auth")` when the authkey is
 * refused (or the server cannot prove it knows it), `TransportError("BadUrl")`
 * for an address that is not `unix:` or `tcp://`.
 *
 * @example Connecting with the server's authkey
 * ```ts
 * import { connect } from "./client.ts";
 * import { startServer } from "./server.ts";
 * import { KINDS } from "../../kinds.ts";
 * await using server = await startServer({ address: "tcp://127.0.0.1:0", kinds: KINDS });
 * await using client = await connect(server.address, { authkey: server.authkey });
 * console.log(client.isClosed); // false
 * ```
 */
export async function connect(address: string | SocketAddress, options: ConnectOptions): Promise<SocketClient> {
  const target = socketAddress(address);
  const canonical = formatAddress(target);
  const checked = checkOptions(options);
  let socket: NetSocket;
  try {
    socket = await connectTo(target);
  } catch (e) {
    const code = (e as { code?: string }).code;
    const dir = target.kind === "unix" ? await missingDirectory(target.path) : undefined;
    const why = dir !== undefined
      ? `the directory ${dir} does not exist`
      : code === "ENOENT" || code === "ECONNREFUSED"
      ? "nothing listens there"
      : `it failed (${code ?? (e as Error).message})`;
    throw new TransportError("Connect", `Cannot connect to manager as ${why}: received ${canonical}`, { cause: e });
  }
  return handshake(socket, canonical, checked);
}

/**
 * Runs a client over a connected byte stream: completes the handshake, then
 * resolves with the client. `label` names the peer in error messages and is
 * the client's `address`. On failure the stream is destroyed.
 *
 * @example Over a stream the caller connected
 * ```ts
 * import { connectOver } from "./client.ts";
 * import { startServer } from "./server.ts";
 * import { connectTo } from "../_runtime/net.ts";
 * import { KINDS } from "../../kinds.ts";
 * await using server = await startServer({ address: "tcp://127.0.0.1:0", kinds: KINDS });
 * const port = Number(server.address.split(":").at(-1));
 * const io = await connectTo({ kind: "tcp", host: "127.0.0.1", port });
 * await using client = await connectOver(io, "my-pipe", { authkey: server.authkey });
 * console.log(client.address); // my-pipe
 * ```
 */
export async function connectOver(io: Duplex, label: string, options: ConnectOptions): Promise<SocketClient> {
  let checked: CheckedOptions;
  try {
    checked = checkOptions(options);
  } catch (e) {
    io.destroy();
    throw e;
  }
  return handshake(io, label, checked);
}

/** {@linkcode ConnectOptions}, checked, with the defaults filled in. */
interface CheckedOptions {
  readonly authkey: Uint8Array;
  readonly maxFrameBytes: number;
  readonly handshakeTimeoutMs: number;
}

function checkOptions(options: ConnectOptions): CheckedOptions {
  if (typeof options !== "object" || options === null || options.authkey === undefined) {
    throw new TypeError(`Cannot connect to manager as 'authkey' is missing: received ${String(options?.authkey)}`);
  }
  return {
    authkey: toAuthkey(options.authkey),
    maxFrameBytes: checkMaxFrameBytes(options.maxFrameBytes),
    handshakeTimeoutMs: checkHandshakeTimeout(options.handshakeTimeoutMs),
  };
}

async function handshake(io: Duplex, label: string, options: CheckedOptions): Promise<SocketClient> {
  const client = new Client(io, label, options);
  await client.ready;
  return client;
}

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** The signal fired and a cancel frame went out. */
  aborted: boolean;
}

const nothing = (): void => {};
/** Most ids one release request carries (at most 9 bytes each: 9 KiB). */
const RELEASE_BATCH = 1024;

function abortError(reason: unknown): Error {
  const e = new Error("Cannot complete call as its signal was aborted", { cause: reason });
  e.name = "AbortError";
  return e;
}

class Client implements SocketClient {
  readonly address: string;
  readonly closed: Promise<TransportError | undefined>;
  readonly ready: Promise<void>;
  readonly #io: Duplex;
  readonly #decoder: FrameDecoder;
  readonly #writer: FrameWriter;
  readonly #pending = new Map<CallId, Pending>();
  readonly #maxFrameBytes: number;
  #handshake: ClientHandshake | null;
  #handshakeStep = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #nextId = 1;
  #instance: Promise<string> | undefined;
  #releases: number[] = [];
  #error: TransportError | undefined;
  #settleClosed!: (e: TransportError | undefined) => void;
  #settleReady!: (error?: unknown) => void;

  constructor(io: Duplex, address: string, options: CheckedOptions) {
    const timeoutMs = options.handshakeTimeoutMs;
    this.#io = io;
    this.address = address;
    this.#maxFrameBytes = options.maxFrameBytes;
    this.#decoder = new FrameDecoder(MAX_HANDSHAKE_FRAME_BYTES);
    this.#writer = new FrameWriter(io);
    this.#handshake = new ClientHandshake(options.authkey);
    this.closed = new Promise((resolve) => (this.#settleClosed = resolve));
    this.ready = new Promise<void>((resolve, reject) => {
      this.#settleReady = (error?: unknown) => (error === undefined ? resolve() : reject(error));
    });
    io.on("data", this.#onData);
    io.on("error", (e: Error) => this.#end(this.#dropError(e)));
    io.on("close", () => this.#end(this.#dropError()));
    this.#timer = setTimeout(
      () =>
        this.#end(
          new TransportError(
            "Connect",
            `Cannot connect to manager as the handshake did not complete within ${timeoutMs} ms: received ${address}`,
          ),
        ),
      timeoutMs,
    );
  }

  get isClosed(): boolean {
    return this.#error !== undefined;
  }

  open(kind: string, name: string | null | undefined, params: readonly unknown[]): Promise<OpenResult> {
    if (typeof kind !== "string") {
      return Promise.reject(new TypeError(`Cannot open structure as 'kind' must be a string: received ${typeof kind}`));
    }
    if (!Array.isArray(params)) {
      return Promise.reject(
        new TypeError(`Cannot open structure as 'params' must be an array: received ${typeof params}`),
      );
    }
    const callId = this.#nextId++;
    return this.#request(callId, [callId, "open", kind, name ?? null, params], undefined) as Promise<OpenResult>;
  }

  call(id: number, op: string, args: readonly unknown[], options?: CallOptions): Promise<unknown> {
    if (!Array.isArray(args)) {
      return Promise.reject(new TypeError(`Cannot call ${op} as 'args' must be an array: received ${typeof args}`));
    }
    const callId = this.#nextId++;
    return this.#request(callId, [callId, "call", id, op, args], options?.signal);
  }

  instance(): Promise<string> {
    return this.#instance ??= this.call(HOST_ID, "instance", []).then((v) => {
      if (typeof v !== "string") {
        throw new TransportError("Protocol", `Cannot read the manager's instance id: received ${typeof v}`);
      }
      return v;
    });
  }

  async retain(id: number): Promise<void> {
    await this.call(HOST_ID, "retain", [id]);
  }

  release(id: number): void {
    if (this.#error !== undefined) return;
    if (this.#releases.length === 0) queueMicrotask(this.#flushReleases);
    this.#releases.push(id);
  }

  #flushReleases = (): void => {
    const ids = this.#releases;
    this.#releases = [];
    if (ids.length === 0 || this.#error !== undefined) return;
    // nobody waits for the answer; a connection that ends meanwhile gave every reference back anyway.
    // At most RELEASE_BATCH ids a request keeps it far below any sensible maxFrameBytes
    for (let i = 0; i < ids.length; i += RELEASE_BATCH) {
      this.call(HOST_ID, "release", [ids.slice(i, i + RELEASE_BATCH)]).catch(nothing);
    }
  };

  #request(callId: CallId, request: WireRequest, signal: AbortSignal | undefined): Promise<unknown> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#releases.length > 0) this.#flushReleases(); // releases keep their place before later requests
    if (signal?.aborted) return Promise.reject(abortError(signal.reason));
    let payload: Uint8Array;
    try {
      payload = encodeRequest(request);
    } catch (e) {
      return Promise.reject(e);
    }
    if (payload.length > this.#maxFrameBytes) {
      return Promise.reject(
        new TransportError(
          "FrameTooLarge",
          `Cannot send call as it exceeds maxFrameBytes (${this.#maxFrameBytes}; ${FRAME_LIMIT_HINT}): received ${payload.length}`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const p: Pending = { resolve, reject, signal, onAbort: undefined, aborted: false };
      if (signal !== undefined) {
        p.onAbort = () => this.#cancel(callId);
        signal.addEventListener("abort", p.onAbort, { once: true });
      }
      if (this.#pending.size === 0) this.#io.ref?.();
      this.#pending.set(callId, p);
      this.#writer.send(payload);
    });
  }

  /** The signal fired: ask the server to abort; its answer settles the call. */
  #cancel(callId: CallId): void {
    const p = this.#pending.get(callId);
    if (p === undefined || p.aborted) return;
    p.aborted = true;
    p.signal!.removeEventListener("abort", p.onAbort!);
    p.onAbort = undefined;
    if (this.#error === undefined) this.#writer.send(encodeRequest([callId, "cancel"]));
  }

  #take(callId: CallId): Pending | undefined {
    const p = this.#pending.get(callId);
    if (p === undefined) return undefined;
    this.#pending.delete(callId);
    if (this.#pending.size === 0 && this.#error === undefined) this.#io.unref?.();
    if (p.onAbort !== undefined) p.signal!.removeEventListener("abort", p.onAbort);
    return p;
  }

  #onData = (chunk: Uint8Array): void => {
    if (this.#error !== undefined) return;
    try {
      this.#decoder.push(chunk, this.#onFrame);
    } catch (e) {
      if (this.#handshake !== null) {
        // not a manager's handshake: the maxFrameBytes hint of the decoder's error would mislead
        this.#end(
          new TransportError(
            "Protocol",
            `Cannot connect to manager as its handshake frames are malformed: received ${this.address}`,
            { cause: e },
          ),
        );
        return;
      }
      this.#end(
        e instanceof TransportError
          ? e
          : new TransportError("Protocol", `Cannot read answer: ${(e as Error).message}`, { cause: e }),
      );
    }
  };

  #onFrame = (payload: Uint8Array): boolean => {
    if (this.#error !== undefined) return false;
    if (this.#handshake !== null) return this.#onHandshake(payload);
    const parsed = parseReply(payload);
    if (!parsed.ok) {
      this.#end(parsed.error);
      return false;
    }
    const reply = parsed.reply;
    if (reply[0] === null) {
      const e = fromWireError(reply[2]);
      this.#end(e instanceof TransportError ? e : new TransportError("Protocol", e.message, { cause: e }));
      return false;
    }
    const p = this.#take(reply[0]);
    if (p === undefined) return true; // not a call of ours (a broken server): dropped
    if (reply[1] === STATUS_OK) p.resolve(reply[2]); // also when the op completed before the cancel reached it
    else if (p.aborted) p.reject(abortError(p.signal!.reason));
    else p.reject(fromWireError(reply[2]));
    return true;
  };

  #onHandshake(payload: Uint8Array): boolean {
    const hs = this.#handshake!;
    try {
      if (this.#handshakeStep++ === 0) {
        this.#io.write(frame(hs.answer(payload)));
        return true;
      }
      hs.finish(payload);
    } catch (e) {
      this.#end(
        e instanceof TransportError
          ? e
          : new TransportError("Protocol", `Cannot connect to manager: ${(e as Error).message}`, { cause: e }),
      );
      return false;
    }
    this.#handshake = null;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#decoder.maxFrameBytes = this.#maxFrameBytes;
    if (this.#pending.size === 0) this.#io.unref?.();
    this.#settleReady();
    return true;
  }

  #dropError(cause?: Error): TransportError {
    if (this.#handshake !== null) {
      return new TransportError(
        "Connect",
        `Cannot connect to manager as the connection closed during the handshake: received ${this.address}`,
        { cause },
      );
    }
    return new TransportError(
      "Closed",
      `Cannot complete call as the connection to manager closed: received ${this.address}`,
      { cause },
    );
  }

  /** Ends the connection once: rejects what is pending, settles `ready` and `closed`. */
  #end(error: TransportError, local = false): void {
    if (this.#error !== undefined) return;
    this.#error = error;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#writer.close();
    this.#io.destroy();
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      if (p.onAbort !== undefined) p.signal!.removeEventListener("abort", p.onAbort);
      p.reject(error);
    }
    this.#settleReady(error);
    this.#settleClosed(local ? undefined : error);
  }

  close(): Promise<void> {
    if (this.#error === undefined) {
      this.#writer.flush();
      this.#end(new TransportError("Closed", `Cannot call as the client is closed: received ${this.address}`), true);
    }
    return this.closed.then(() => undefined);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

// ---------------------------------------------------------------------------
// Per-thread client cache

const clients = new Map<string, Promise<SocketClient>>();

/**
 * The one shared client of this thread for `address`, `authkey` and
 * `maxFrameBytes` (64 MiB when absent): many structures attached in the same
 * thread share one connection. A client that
 * closes (or fails to connect) leaves the cache, so the next call reconnects.
 * Closing a shared client closes it for every sharer; an idle one does not
 * keep the process alive, so there is usually no need to.
 *
 * @example Two lookups, one connection
 * ```ts
 * import { clientFor } from "./client.ts";
 * import { startServer } from "./server.ts";
 * import { KINDS } from "../../kinds.ts";
 * await using server = await startServer({ address: "tcp://127.0.0.1:0", kinds: KINDS });
 * const a = await clientFor(server.address, server.authkey);
 * const b = await clientFor(server.address, server.authkey);
 * console.log(a === b); // true
 * ```
 */
export function clientFor(
  address: string | SocketAddress,
  authkey: Uint8Array | string,
  maxFrameBytes?: number,
): Promise<SocketClient> {
  let target: SocketAddress;
  let key: Uint8Array;
  let max: number;
  try {
    target = socketAddress(address);
    key = toAuthkey(authkey);
    max = checkMaxFrameBytes(maxFrameBytes);
  } catch (e) {
    return Promise.reject(e);
  }
  const hex = Array.from(key, (b) => b.toString(16).padStart(2, "0")).join("");
  const cacheKey = `${formatAddress(target)}\0${hex}\0${max}`;
  const cached = clients.get(cacheKey);
  if (cached !== undefined) return cached;
  const promise = connect(target, { authkey: key, maxFrameBytes: max });
  clients.set(cacheKey, promise);
  promise.then(
    (client) => {
      client.closed.then(() => {
        if (clients.get(cacheKey) === promise) clients.delete(cacheKey);
      });
    },
    () => {
      if (clients.get(cacheKey) === promise) clients.delete(cacheKey);
    },
  );
  return promise;
}

/**
 * The `remote` of a backend over structure `id` of `client`: calls, and the
 * references a client holds on it — `pin` takes one more (a handle handed
 * on), `release` gives back its own, and with `withPins` the pinned ones
 * too, once. Shared by the socket and `pipe:` providers.
 */
export function structureRemote(client: SocketClient, id: number): Remote {
  let released = false;
  let pins = 0;
  return {
    call: (op, args, signal) => client.call(id, op, args, signal && { signal }),
    release(withPins) {
      if (released) return;
      released = true;
      client.release(id);
      for (; withPins && pins > 0; pins--) client.release(id);
    },
    pin() {
      if (released) return;
      pins++;
      client.retain(id).catch(() => {});
    },
  };
}
