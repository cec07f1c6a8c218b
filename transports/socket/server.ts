/**
 * The manager server: an {@linkcode EngineHost} — the same engines the
 * shared-buffer transport runs in-process — executed on behalf of remote
 * callers (DESIGN.md §3), listening on a unix socket or a TCP port.
 *
 * Two parts. {@linkcode startServer} listens and accepts sockets; every
 * accepted socket is handed to the connection handler, which needs nothing but
 * a {@linkcode Duplex}: {@linkcode serveConnection} runs the same handler over
 * any byte stream (a child process's pipe), so a future pipe transport reuses it.
 *
 * A connection starts with the three handshake frames of `_auth.ts` (mutual
 * HMAC-SHA256 on the authkey); after it, every frame is a request or a reply
 * of `_wire.ts`. Calls are pipelined: the server answers in completion order,
 * and a `"cancel"` aborts the operation's `ctx.signal`.
 *
 * ## Security
 *
 * No request is read before the client has proved the authkey. TCP servers
 * bind loopback unless `allowRemote` is set. Unix socket files are chmod 0600
 * right after `listen` (between the two, a local user could connect but still
 * has to pass the handshake). A peer announcing a frame over `maxFrameBytes`,
 * or sending bytes that are not CBOR, gets a `[null, 1, …]` error frame and
 * its connection closed; every other connection is unaffected. A request
 * outside procshare's data model (value-sharing or unknown tags, huge
 * bignums, deep nesting, more items than its bytes could hold) is refused
 * before it is decoded (`decodeWire` in `_codec.ts`): `CodecError("Malformed")`
 * for that call, or the connection closed when no call id can be read.
 *
 * ## Slow readers, stalled senders, churn
 *
 * Replies wait in the socket until the peer reads them. Once a connection's
 * unsent replies pass `maxPendingReplyBytes` (2 × `maxFrameBytes` by
 * default) the server stops reading its requests — they stay in the kernel
 * and the peer's own buffers — and resumes when the socket has drained, so a
 * client that pipelines big reads and stops reading costs the server a bounded
 * amount of memory. A frame must arrive whole within `frameTimeoutMs` (30 s
 * by default) of its first byte, the clock stopped while the server is not
 * reading: an authenticated peer that stalls mid-frame is cut off.
 *
 * Every authenticated connection takes an id of the process's thread registry
 * (`_runtime/threads.ts`), given back when it closes and reused safely: what
 * a closed connection held still reads as held by a dead owner. When every id
 * is held by a live connection or thread, a client is refused at connect with
 * `TransportError("Connect")` saying so.
 *
 * @example A server and a client in one process
 * ```ts
 * import { startServer } from "./server.ts";
 * import { connect } from "./client.ts";
 * import { KINDS } from "../../kinds.ts";
 * await using server = await startServer({ address: "tcp://127.0.0.1:0", kinds: KINDS });
 * await using client = await connect(server.address, { authkey: server.authkey });
 * const { id } = await client.open("dict", "scores", []);
 * console.log(await client.call(id, "get", ["a"]));
 * ```
 * @module
 */
import { TransportError } from "../../errors.ts";
import type { Kinds } from "../../core/structure.ts";
import { MAX_HANDSHAKE_FRAME_BYTES, randomAuthkey, refusal, ServerHandshake, toAuthkey } from "../_auth.ts";
import type { Duplex } from "../_duplex.ts";
import { checkMaxFrameBytes, frame, FRAME_LIMIT_HINT, FrameDecoder, FrameWriter } from "../_frame.ts";
import { type CallContext, EngineHost } from "../_host.ts";
import {
  absolutePath,
  boundAddress,
  chmodOwnerOnly,
  connectTo,
  listen,
  type NetServer,
  type NetSocket,
  pathKind,
  unlinkQuiet,
} from "../_runtime/net.ts";
import { processRegistry, tryAllocateId } from "../_runtime/threads.ts";
import { StoredHandle, storedSeen } from "../_nested.ts";
import {
  type CallId,
  checkHandshakeTimeout,
  encodeReply,
  parseRequest,
  STATUS_ERROR,
  STATUS_OK,
  toWireError,
} from "../_wire.ts";
import {
  checkUnixPath,
  formatAddress,
  isLoopback,
  missingDirectory,
  type SocketAddress,
  socketAddress,
} from "./address.ts";

// ---------------------------------------------------------------------------
// Listening

/**
 * The owner that holds the references of structures stored inside other
 * structures (issue 10). Its references are never given back: a structure
 * of this server written into another one, by any operation, stays until
 * the manager shuts down (a named one also past `Manager.delete` of its
 * name), as a Python nested proxy keeps its referent alive. A structure held
 * only inside another so survives its creator's disconnection.
 */
const STORED_OWNER = -1;

/** Takes a {@linkcode STORED_OWNER} reference to each structure of `host` stored in `v` (arrays, maps, objects). */
function keepStored(host: EngineHost, v: unknown, depth: number): void {
  if (typeof v !== "object" || v === null || depth > 66 || ArrayBuffer.isView(v)) return;
  if (v instanceof StoredHandle) {
    const h = v.handle;
    if (h.via === "socket" && h.instance === host.instance && typeof h.id === "number") {
      host.retain(h.id, STORED_OWNER);
    }
    return;
  }
  if (Array.isArray(v) || v instanceof Set) { for (const x of v) keepStored(host, x, depth + 1); }
  else if (v instanceof Map) {
    for (const [k, x] of v) {
      keepStored(host, k, depth + 1);
      keepStored(host, x, depth + 1);
    }
  } else for (const k in v as Record<string, unknown>) keepStored(host, (v as Record<string, unknown>)[k], depth + 1);
}

/**
 * Options of {@linkcode startServer}.
 *
 * @example
 * ```ts
 * import type { ServerOptions } from "./server.ts";
 * import { KINDS } from "../../kinds.ts";
 * const options: ServerOptions = { address: "unix:/tmp/app.sock", kinds: KINDS, maxFrameBytes: 1 << 20 };
 * ```
 */
export interface ServerOptions {
  /** `unix:/path` or `tcp://host:port` (port 0 picks a free port), as a URL or parsed. */
  readonly address: string | SocketAddress;
  /** Shared secret of the handshake; 32 random bytes when absent. */
  readonly authkey?: Uint8Array | string;
  /** The kinds a fresh host serves (the manager passes `KINDS` from `kinds.ts`). */
  readonly kinds?: Kinds;
  /** The structures served; a fresh host over `kinds` when absent. */
  readonly host?: EngineHost;
  /** Largest frame accepted from (and sent to) a client; 64 MiB by default. */
  readonly maxFrameBytes?: number;
  /** Allow a TCP address that is not loopback. Off by default. */
  readonly allowRemote?: boolean;
  /** Connections that have not completed the handshake by then are closed; 5000 by default. */
  readonly handshakeTimeoutMs?: number;
  /**
   * A connection whose unsent replies pass this many bytes is not read from
   * until they are sent; 2 × `maxFrameBytes` by default.
   */
  readonly maxPendingReplyBytes?: number;
  /** A frame must arrive whole within this long of its first byte, or its connection is closed; 30000 by default. */
  readonly frameTimeoutMs?: number;
  /**
   * Most anonymous structures a fresh host holds at once (16,384 by
   * default): one more is refused with `CapacityError`. Ignored with `host`.
   */
  readonly maxAnonymous?: number;
}

/**
 * A running manager server. `close()` (or `await using`) stops listening,
 * closes every connection — aborting their calls in flight and releasing what
 * they held — disposes of the structures of the host it made (not of a
 * `host` it was given) and removes the unix socket file.
 *
 * @example Serving until disposed
 * ```ts
 * import { startServer } from "./server.ts";
 * import { KINDS } from "../../kinds.ts";
 * await using server = await startServer({ address: "unix:/tmp/procshare-doc.sock", kinds: KINDS });
 * console.log(server.address); // unix:/tmp/procshare-doc.sock
 * ```
 */
export interface ManagerServer extends AsyncDisposable {
  /** The resolved address as a URL string (`tcp://127.0.0.1:41234`, `unix:/tmp/app.sock`). */
  readonly address: string;
  /** The authkey clients must know. */
  readonly authkey: Uint8Array;
  /** The structures this server serves. */
  readonly host: EngineHost;
  /** How many connections are open (handshaking or authenticated). */
  readonly connectionCount: number;
  /** Bytes of replies written and not yet sent, over every connection. */
  readonly pendingReplyBytes: number;
  /** How many connections the server is not reading from, until their peers read what it sent. */
  readonly pausedConnections: number;
  /** Stops the server; resolves once every connection is closed. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts a manager server on a unix socket or a TCP port.
 *
 * A TCP address must be loopback unless `allowRemote` is set; a unix socket
 * file left by a dead server is replaced, one with a live server behind it is
 * not (`TransportError("Connect")`), and a path holding anything else is
 * refused (`TransportError("BadUrl")`). A relative unix path is made absolute
 * in `server.address`, so the address means the same file in every process;
 * an absolute path longer than the platform allows (`UNIX_PATH_MAX_BYTES`) is
 * refused with `TransportError("BadUrl")` before anything is created, and a
 * directory that does not exist is named in the `TransportError("Connect")`.
 *
 * @example Starting on a free TCP port
 * ```ts
 * import { startServer } from "./server.ts";
 * import { KINDS } from "../../kinds.ts";
 * const server = await startServer({ address: "tcp://127.0.0.1:0", authkey: "s3cret", kinds: KINDS });
 * console.log(server.address.startsWith("tcp://127.0.0.1:")); // true
 * await server.close();
 * ```
 */
export async function startServer(options: ServerOptions): Promise<ManagerServer> {
  let target = socketAddress(options.address);
  const given = formatAddress(target);
  if (target.kind === "unix") {
    target = { kind: "unix", path: absolutePath(target.path) };
    checkUnixPath(target.path); // the path bound is the absolute one
  }
  const authkey = options.authkey === undefined ? randomAuthkey() : toAuthkey(options.authkey);
  const maxFrameBytes = checkMaxFrameBytes(options.maxFrameBytes);
  const handshakeTimeoutMs = checkHandshakeTimeout(options.handshakeTimeoutMs);
  const maxPendingReplyBytes = checkMaxPendingReplyBytes(options.maxPendingReplyBytes, maxFrameBytes);
  const frameTimeoutMs = checkFrameTimeout(options.frameTimeoutMs);
  if (!options.host && !options.kinds) {
    throw new TypeError("Cannot start server as neither 'host' nor 'kinds' is given: received neither");
  }
  const host = options.host ?? new EngineHost(options.kinds!, { maxAnonymous: options.maxAnonymous });
  if (target.kind === "tcp" && !isLoopback(target.host) && options.allowRemote !== true) {
    throw new TransportError(
      "Unsupported",
      `Cannot start manager on a non-loopback address without allowRemote: received ${given}`,
    );
  }
  if (target.kind === "unix") await clearStaleSocket(target.path, given);
  const server = new SocketServer(
    { authkey, host, maxFrameBytes, handshakeTimeoutMs, maxPendingReplyBytes, frameTimeoutMs },
    target.kind === "tcp",
    options.host === undefined,
  );
  let net: NetServer;
  try {
    net = await listen(target, (socket) => server.accept(socket));
  } catch (e) {
    const dir = target.kind === "unix" ? await missingDirectory(target.path) : undefined;
    if (dir !== undefined) {
      throw new TransportError(
        "Connect",
        `Cannot start manager as the directory ${dir} does not exist: received ${given}`,
        { cause: e },
      );
    }
    throw new TransportError(
      "Connect",
      `Cannot start manager as listening failed (${
        (e as { code?: string }).code ?? (e as Error).message
      }): received ${given}`,
      { cause: e },
    );
  }
  let address: string;
  if (target.kind === "unix") {
    try {
      await chmodOwnerOnly(target.path);
    } catch (e) {
      net.close();
      throw new TransportError(
        "Connect",
        `Cannot start manager as its socket file cannot be made private: received ${target.path}`,
        { cause: e },
      );
    }
    address = formatAddress(target);
  } else {
    address = formatAddress({ kind: "tcp", ...boundAddress(net) });
  }
  server.started(net, address, target.kind === "unix" ? target.path : undefined);
  return server;
}

/** Removes a socket file left by a dead server; refuses a live server's, or a path that is not a socket. */
async function clearStaleSocket(path: string, address: string): Promise<void> {
  const kind = await pathKind(path);
  if (kind === "missing") return;
  if (kind === "other") {
    throw new TransportError("BadUrl", `Cannot start manager as its path exists and is not a socket: received ${path}`);
  }
  let live: NetSocket | undefined;
  try {
    live = await connectTo({ kind: "unix", path });
  } catch (e) {
    if ((e as { code?: string }).code !== "ECONNREFUSED") throw e;
  }
  if (live) {
    live.destroy();
    throw new TransportError("Connect", `Cannot start manager as another server listens there: received ${address}`);
  }
  await unlinkQuiet(path);
}

class SocketServer implements ManagerServer {
  address = "";
  readonly #config: ConnectionConfig;
  readonly #tcp: boolean;
  /** The server made its host, so the host's structures end with it. */
  readonly #ownsHost: boolean;
  readonly #connections = new Set<ServerConnection>();
  #net: NetServer | undefined;
  #unixPath: string | undefined;
  #closing: Promise<void> | undefined;

  constructor(config: Omit<ConnectionConfig, "onClose">, tcp: boolean, ownsHost: boolean) {
    this.#config = config;
    this.#tcp = tcp;
    this.#ownsHost = ownsHost;
  }

  get authkey(): Uint8Array {
    return this.#config.authkey;
  }

  get host(): EngineHost {
    return this.#config.host;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  get pendingReplyBytes(): number {
    let n = 0;
    for (const c of this.#connections) n += c.pendingReplyBytes;
    return n;
  }

  get pausedConnections(): number {
    let n = 0;
    for (const c of this.#connections) if (c.readPaused) n++;
    return n;
  }

  started(net: NetServer, address: string, unixPath: string | undefined): void {
    this.#net = net;
    this.address = address;
    // a handle of this server's own structure given as a parameter (a Condition's Lock) opens its memory;
    // one of an earlier server on the same address (another host instance) is not this server's
    const host = this.#config.host;
    host.ownHandles((h) =>
      h.via === "socket" && h.address === address && h.instance === host.instance ? h.id as number : undefined
    );
    this.#unixPath = unixPath;
  }

  accept(socket: NetSocket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    if (this.#tcp) socket.setNoDelay(true);
    const c: ServerConnection = new ServerConnection(socket, {
      ...this.#config,
      onClose: () => this.#connections.delete(c),
    });
    this.#connections.add(c);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const net = this.#net!;
    const stopped = new Promise<void>((resolve) => net.close(() => resolve()));
    for (const c of this.#connections) c.destroy();
    await stopped;
    if (this.#ownsHost) this.#config.host.clear();
    if (this.#unixPath !== undefined) await unlinkQuiet(this.#unixPath);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

// ---------------------------------------------------------------------------
// One connection, over any Duplex

/**
 * Options of {@linkcode serveConnection}.
 *
 * @example
 * ```ts
 * import type { ConnectionOptions } from "./server.ts";
 * import { EngineHost } from "../_host.ts";
 * import { KINDS } from "../../kinds.ts";
 * const options: ConnectionOptions = { authkey: "s3cret", host: new EngineHost(KINDS) };
 * ```
 */
export interface ConnectionOptions {
  /** Shared secret the peer must prove in the handshake. */
  readonly authkey: Uint8Array | string;
  /** The structures served. */
  readonly host: EngineHost;
  /** Largest frame accepted from (and sent to) the peer; 64 MiB by default. */
  readonly maxFrameBytes?: number;
  /** The connection is closed if the handshake has not completed by then; 5000 by default. */
  readonly handshakeTimeoutMs?: number;
  /** The stream is not read from while its unsent replies pass this many bytes; 2 × `maxFrameBytes` by default. */
  readonly maxPendingReplyBytes?: number;
  /** A frame must arrive whole within this long of its first byte; 30000 by default. */
  readonly frameTimeoutMs?: number;
  /** Called once when the connection has ended, whichever side ended it. */
  readonly onClose?: () => void;
}

/**
 * One served connection, as {@linkcode serveConnection} gives it.
 *
 * @example
 * ```ts
 * import type { ServedConnection } from "./server.ts";
 * const stop = (c: ServedConnection) => c.destroy();
 * ```
 */
export interface ServedConnection {
  /** Closes now, without a word to the peer: calls in flight are aborted, what the peer held is released. */
  destroy(): void;
}

/**
 * Serves the manager protocol over one connected byte stream: sends the
 * handshake challenge, then answers requests until the stream closes. When it
 * closes, the peer's calls in flight are aborted and what it held (locks,
 * semaphore permits) is released as its owner died.
 *
 * @example Serving over an in-memory stream
 * ```ts
 * import { serveConnection } from "./server.ts";
 * import { EngineHost } from "../_host.ts";
 * import { KINDS } from "../../kinds.ts";
 * const written: Uint8Array[] = [];
 * const io = { write: (b: Uint8Array) => written.push(b), end() {}, destroy() {}, on() {} };
 * const connection = serveConnection(io, { authkey: "s3cret", host: new EngineHost(KINDS) });
 * console.log(written.length); // 1 (the challenge)
 * connection.destroy();
 * ```
 */
export function serveConnection(io: Duplex, options: ConnectionOptions): ServedConnection {
  const maxFrameBytes = checkMaxFrameBytes(options.maxFrameBytes);
  return new ServerConnection(io, {
    authkey: toAuthkey(options.authkey),
    host: options.host,
    maxFrameBytes,
    handshakeTimeoutMs: checkHandshakeTimeout(options.handshakeTimeoutMs),
    maxPendingReplyBytes: checkMaxPendingReplyBytes(options.maxPendingReplyBytes, maxFrameBytes),
    frameTimeoutMs: checkFrameTimeout(options.frameTimeoutMs),
    onClose: options.onClose,
  });
}

/** Default of `frameTimeoutMs`: a frame must arrive whole within 30 s of its first byte. */
export const DEFAULT_FRAME_TIMEOUT_MS = 30_000;

/**
 * Checks a `maxPendingReplyBytes` option and returns it, or 2 × `maxFrameBytes` when absent.
 *
 * @example
 * ```ts
 * import { checkMaxPendingReplyBytes } from "./server.ts";
 * console.log(checkMaxPendingReplyBytes(undefined, 1024), checkMaxPendingReplyBytes(4096, 1024)); // 2048 4096
 * ```
 */
export function checkMaxPendingReplyBytes(bytes: number | undefined, maxFrameBytes: number): number {
  if (bytes === undefined) return 2 * maxFrameBytes;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new RangeError(`Cannot use maxPendingReplyBytes as it must be a positive integer: received ${bytes}`);
  }
  return bytes;
}

/**
 * Checks a `frameTimeoutMs` option and returns it, or {@linkcode DEFAULT_FRAME_TIMEOUT_MS} when absent.
 *
 * @example
 * ```ts
 * import { checkFrameTimeout } from "./server.ts";
 * console.log(checkFrameTimeout(undefined), checkFrameTimeout(250)); // 30000 250
 * ```
 */
export function checkFrameTimeout(ms: number | undefined): number {
  if (ms === undefined) return DEFAULT_FRAME_TIMEOUT_MS;
  if (!Number.isFinite(ms) || ms <= 0 || ms > MAX_TIMER_MS) {
    throw new RangeError(`Cannot use frameTimeoutMs as it must be a number in (0, ${MAX_TIMER_MS}]: received ${ms}`);
  }
  return ms;
}

/** Longest delay a timer accepts (2^31 - 1 ms): beyond it, timers fire at once. */
const MAX_TIMER_MS = 0x7fffffff;

/**
 * What backpressure needs of a stream besides {@linkcode Duplex}: a connected
 * `node:net` socket has it on every runtime; a stream without it is written to
 * unbounded, as before.
 */
interface FlowControl {
  readonly writableLength: number;
  pause(): unknown;
  resume(): unknown;
  on(event: "drain", listener: () => void): unknown;
}

function flowControlOf(io: Duplex): FlowControl | undefined {
  const f = io as unknown as Partial<FlowControl>;
  return typeof f.writableLength === "number" && typeof f.pause === "function" && typeof f.resume === "function"
    ? f as FlowControl
    : undefined;
}

/** {@linkcode ConnectionOptions}, checked. */
interface ConnectionConfig {
  readonly authkey: Uint8Array;
  readonly host: EngineHost;
  readonly maxFrameBytes: number;
  readonly handshakeTimeoutMs: number;
  readonly maxPendingReplyBytes: number;
  readonly frameTimeoutMs: number;
  readonly onClose?: () => void;
}

/**
 * The context of one call in flight: its owner id, and an abort signal made
 * only when the operation asks for it (most never do).
 */
class ServerCall implements CallContext {
  readonly ownerId: number;
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;

  constructor(ownerId: number) {
    this.ownerId = ownerId;
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === "object" || typeof v === "function") && v !== null &&
    typeof (v as { then?: unknown }).then === "function";
}

/** A peer that does not close its side after a failure is cut off after this long. */
const GRACEFUL_END_MS = 1000;
/**
 * Fair share (issue 8 item 4): a connection whose data took longer than this
 * to handle in one go (reassembling, checking, decoding and running its
 * frames) is not read from for as long as that took, so a client sending
 * expensive frames — hostile or not — gets at most about half of the
 * server's thread while others wait, and the others' throughput stays within
 * 2×. Cheap calls never pay it.
 */
const FAIR_SLICE_MS = 2;

/** One connection: handshake, then requests until it closes. */
class ServerConnection implements ServedConnection {
  readonly #io: Duplex;
  readonly #config: ConnectionConfig;
  readonly #decoder: FrameDecoder;
  readonly #writer: FrameWriter;
  readonly #inflight = new Map<CallId, ServerCall>();
  readonly #flow: FlowControl | undefined;
  #handshake: ServerHandshake | null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #killTimer: ReturnType<typeof setTimeout> | undefined;
  #ownerId = 0;
  /** `storedSeen()` when this connection last looked for stored structures in a call's arguments. */
  #storedSeen = storedSeen();
  #closed = false;
  /** Not reading from the stream until it drains (backpressure). */
  #readPaused = false;
  /** True while the connection rests after an expensive turn (see FAIR_SLICE_MS). */
  #resting = false;
  #restTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the frame now arriving began (`performance.now()`), or 0 when none is partial or the clock is stopped. */
  #frameSince = 0;
  #frameTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(io: Duplex, config: ConnectionConfig) {
    this.#io = io;
    this.#config = config;
    this.#decoder = new FrameDecoder(MAX_HANDSHAKE_FRAME_BYTES);
    this.#writer = new FrameWriter(io);
    this.#handshake = new ServerHandshake(config.authkey);
    this.#flow = flowControlOf(io);
    this.#flow?.on("drain", this.#onDrain);
    io.on("data", this.#onData);
    io.on("error", () => this.#teardown());
    io.on("close", () => {
      if (this.#killTimer !== undefined) clearTimeout(this.#killTimer);
      this.#teardown();
    });
    this.#timer = setTimeout(() => this.destroy(), config.handshakeTimeoutMs);
    io.write(frame(this.#handshake.challenge));
  }

  destroy(): void {
    this.#teardown();
    this.#io.destroy();
  }

  /** Bytes of replies not yet sent: queued in this tick, and held by the stream. */
  get pendingReplyBytes(): number {
    return this.#writer.queued + (this.#flow?.writableLength ?? 0);
  }

  /** True while the server does not read from this connection, waiting for its replies to drain. */
  get readPaused(): boolean {
    return this.#readPaused;
  }

  /** Stops reading once the unsent replies pass the bound; the stream's `"drain"` resumes it. */
  #checkPressure(): void {
    if (this.#readPaused || this.#closed || this.#flow === undefined) return;
    if (this.pendingReplyBytes <= this.#config.maxPendingReplyBytes) return;
    this.#writer.flush(); // hand the replies to the stream now, so that its "drain" tells when they are sent
    // a stream still under its own high-water mark will not emit "drain": keep reading
    if (!this.#writer.blocked) return;
    this.#readPaused = true;
    this.#decoder.pause();
    this.#flow.pause();
    this.#frameSince = 0; // the peer is not late while we do not read
  }

  #onDrain = (): void => {
    this.#writer.drained();
    if (!this.#readPaused || this.#closed) return;
    this.#readPaused = false;
    if (this.#resting) return; // the end of the rest resumes
    this.#flow!.resume();
    try {
      this.#decoder.resume(this.#onFrame);
    } catch (e) {
      this.#onDecodeError(e);
      return;
    }
    this.#watchFrame();
  };

  /** Starts the frame clock when a frame is partial, stops it when none is; one timer at a time. */
  #watchFrame(): void {
    if (this.#closed || this.#handshake !== null || this.#readPaused || this.#resting) return;
    if (!this.#decoder.partial) {
      this.#frameSince = 0;
      return;
    }
    if (this.#frameSince !== 0) return;
    this.#frameSince = performance.now();
    if (this.#frameTimer === undefined) this.#armFrameTimer(this.#config.frameTimeoutMs);
  }

  #armFrameTimer(ms: number): void {
    this.#frameTimer = setTimeout(this.#onFrameTimer, ms);
  }

  #onFrameTimer = (): void => {
    this.#frameTimer = undefined;
    if (this.#closed || this.#frameSince === 0) return;
    const timeout = this.#config.frameTimeoutMs;
    const left = this.#frameSince + timeout - performance.now();
    if (left > 0) {
      this.#armFrameTimer(left);
      return;
    }
    this.#fail(
      new TransportError(
        "Protocol",
        `Cannot receive frame as it did not arrive whole within frameTimeoutMs (${timeout}): received ${this.#decoder.buffered} bytes of it`,
      ),
    );
  };

  /** Sends a connection-level error frame, then closes. */
  #fail(error: TransportError): void {
    if (this.#closed) return;
    this.#writer.send(encodeReply([null, STATUS_ERROR, toWireError(error)]));
    this.#writer.flush();
    this.#endGracefully();
  }

  /** Closes after what was written is sent; a peer that never closes its side is cut off. */
  #endGracefully(): void {
    this.#teardown();
    this.#io.end();
    this.#killTimer = setTimeout(() => this.#io.destroy(), GRACEFUL_END_MS);
  }

  #onData = (chunk: Uint8Array): void => {
    if (this.#closed) return;
    const started = performance.now();
    try {
      this.#decoder.push(chunk, this.#onFrame);
    } catch (e) {
      this.#onDecodeError(e);
      return;
    }
    this.#restAfter(performance.now() - started);
    this.#watchFrame();
  };

  /** After a turn that cost `ms` of this thread: a rest as long, if it was expensive (FAIR_SLICE_MS). */
  #restAfter(ms: number): void {
    if (ms <= FAIR_SLICE_MS || this.#resting || this.#closed || this.#handshake !== null) return;
    this.#resting = true;
    this.#decoder.pause();
    this.#flow?.pause();
    this.#frameSince = 0; // the peer is not late while we do not read
    this.#restTimer = setTimeout(this.#onRested, Math.ceil(ms));
  }

  #onRested = (): void => {
    this.#restTimer = undefined;
    this.#resting = false;
    if (this.#closed || this.#readPaused) return; // backpressure's "drain" resumes
    this.#flow?.resume();
    const started = performance.now();
    try {
      this.#decoder.resume(this.#onFrame);
    } catch (e) {
      this.#onDecodeError(e);
      return;
    }
    this.#restAfter(performance.now() - started);
    this.#watchFrame();
  };

  #onDecodeError(e: unknown): void {
    if (this.#handshake !== null) this.destroy();
    else if (e instanceof TransportError) this.#fail(e);
    else this.destroy();
  }

  #onFrame = (payload: Uint8Array): boolean => {
    if (this.#closed) return false;
    if (this.#handshake !== null) {
      const { accepted, reply } = this.#handshake.check(payload);
      // the connection's owner id, before it is welcomed: a full registry is a refusal the client reads at connect
      const ownerId = accepted ? tryAllocateId() : 0;
      if (accepted && ownerId === 0) {
        const registry = processRegistry();
        this.#io.write(frame(refusal(
          `Cannot connect to manager as all ${registry.slots} connection and thread ids of its process are held ` +
            `by live ones (close connections or start another manager): received ${registry.alive()} alive`,
        )));
      } else this.#io.write(frame(reply));
      if (ownerId === 0) {
        this.#endGracefully();
        return false;
      }
      this.#handshake = null;
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#ownerId = ownerId;
      this.#decoder.maxFrameBytes = this.#config.maxFrameBytes;
      return true;
    }
    this.#onMessage(payload);
    this.#checkPressure();
    return !this.#closed;
  };

  #onMessage(payload: Uint8Array): void {
    const parsed = parseRequest(payload);
    if (!parsed.ok) {
      if (parsed.callId === null) this.#fail(parsed.error);
      else this.#replyError(parsed.callId, parsed.error);
      return;
    }
    const request = parsed.request;
    switch (request[1]) {
      case "call":
        this.#call(request[0], request[2], request[3], request[4]);
        return;
      case "cancel":
        this.#inflight.get(request[0])?.abort(new DOMException("The call was cancelled by the client", "AbortError"));
        return;
      case "open":
        try {
          this.#replyOk(
            request[0],
            this.#config.host.open(request[2], request[3] ?? undefined, request[4], this.#ownerId),
          );
        } catch (e) {
          this.#replyError(request[0], e);
        }
        return;
    }
  }

  #call(callId: CallId, id: number, op: string, args: readonly unknown[]): void {
    if (this.#inflight.has(callId)) {
      this.#replyError(
        callId,
        new TransportError("Protocol", `Cannot call as the call id is already in flight: received ${callId}`),
      );
      return;
    }
    const ctx = new ServerCall(this.#ownerId);
    let result: unknown;
    try {
      if (storedSeen() !== this.#storedSeen) {
        this.#storedSeen = storedSeen();
        keepStored(this.#config.host, args, 0);
      }
      result = this.#config.host.call(id, op, args, ctx);
    } catch (e) {
      this.#replyError(callId, e);
      return;
    }
    if (!isThenable(result)) {
      this.#replyOk(callId, result, id, op);
      return;
    }
    this.#inflight.set(callId, ctx);
    result.then(
      (value) => {
        if (this.#inflight.get(callId) === ctx) this.#inflight.delete(callId);
        this.#replyOk(callId, value, id, op);
      },
      (error) => {
        if (this.#inflight.get(callId) === ctx) this.#inflight.delete(callId);
        this.#replyError(callId, error);
      },
    );
  }

  /** Answers a call, or an open when `op` is absent; a result over maxFrameBytes is an error naming the op. */
  #replyOk(callId: CallId, value: unknown, id?: number, op?: string): void {
    if (this.#closed) return;
    let bytes: Uint8Array;
    try {
      bytes = encodeReply([callId, STATUS_OK, value]);
    } catch (e) {
      this.#replyError(callId, e);
      return;
    }
    const max = this.#config.maxFrameBytes;
    if (bytes.length > max) {
      this.#replyError(
        callId,
        new TransportError(
          "FrameTooLarge",
          `Cannot send the result of ${
            this.#opName(id, op)
          } as it exceeds maxFrameBytes (${max}; ${FRAME_LIMIT_HINT}, ` +
            `or read it in parts: keys() then get() per key, slices of a list): received ${bytes.length} bytes`,
        ),
      );
      return;
    }
    this.#writer.send(bytes);
    this.#checkPressure();
  }

  /** `dict.entries` for a call, `open` for an open. */
  #opName(id: number | undefined, op: string | undefined): string {
    if (id === undefined || op === undefined) return "open";
    try {
      return `${this.#config.host.entry(id).spec.kind}.${op}`;
    } catch {
      return String(op); // the structure is gone meanwhile
    }
  }

  #replyError(callId: CallId, error: unknown): void {
    if (this.#closed) return;
    this.#writer.send(encodeReply([callId, STATUS_ERROR, toWireError(error)]));
    this.#checkPressure();
  }

  /** Ends the connection's life on the server: calls aborted, owner released. Idempotent. */
  #teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#frameTimer !== undefined) clearTimeout(this.#frameTimer);
    if (this.#restTimer !== undefined) clearTimeout(this.#restTimer);
    this.#writer.close();
    this.#config.onClose?.();
    if (this.#inflight.size > 0) {
      const reason = new TransportError("Closed", "Cannot complete call as its connection closed");
      for (const call of this.#inflight.values()) call.abort(reason);
      this.#inflight.clear();
    }
    if (this.#ownerId !== 0) this.#config.host.releaseOwner(this.#ownerId);
  }
}
