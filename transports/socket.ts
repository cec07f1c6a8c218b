/**
 * The manager server and its clients over unix sockets and TCP.
 *
 * A server hosts an {@linkcode EngineHost}: the same engines the shared-buffer
 * transport runs in-process, executed here on behalf of remote callers
 * (DESIGN.md §3). A client opens structures by kind and name and calls their
 * operations; many calls may be in flight on one connection.
 *
 * ## Wire format
 *
 * Every message is one frame (`_frame.ts`: 4-byte big-endian length, then the
 * payload). The connection starts with the three handshake frames of
 * `_auth.ts` (mutual HMAC-SHA256 on the authkey); after it, every payload is a
 * CBOR array (`_codec.ts`):
 *
 * | direction | message |
 * |---|---|
 * | client → server | `[callId, "open", kind, name \| null, params[]]` |
 * | client → server | `[callId, "call", id, op, args[]]` |
 * | client → server | `[callId, "cancel"]` — aborts the in-flight call `callId` (no answer of its own) |
 * | server → client | `[callId, 0, value]` — success; for `"open"`, `value` is `{ id, created }` |
 * | server → client | `[callId, 1, { tag, reason, message }]` — failure, revived with `reviveError` |
 * | server → client | `[null, 1, { tag, reason, message }]` — the connection failed; the server closes it |
 *
 * `callId` is a non-negative safe integer chosen by the client, unique among
 * its calls in flight. The server answers in completion order, not request
 * order.
 *
 * ## Security
 *
 * No request is read before the client has proved the authkey, and the client
 * sends none before the server has proved it too. TCP servers bind loopback
 * unless `allowRemote` is set. Unix socket files are chmod 0600 right after
 * `listen` (between the two, a local user could connect but still has to pass
 * the handshake). A peer announcing a frame over `maxFrameBytes`, or sending
 * bytes that are not CBOR, gets a `[null, 1, …]` error frame and its
 * connection closed; every other connection is unaffected.
 *
 * @example A server and a client in one process
 * ```ts
 * import { connect, startServer } from "./socket.ts";
 * await using server = await startServer({ address: "tcp://127.0.0.1:0" });
 * await using client = await connect(server.address, { authkey: server.authkey });
 * const { id } = await client.open("dict", "scores", []);
 * console.log(await client.call(id, "get", ["a"]));
 * ```
 * @module
 */
import { reviveError, TransportError } from "../errors.ts";
import {
  ClientHandshake,
  HANDSHAKE_TIMEOUT_MS,
  MAX_HANDSHAKE_FRAME_BYTES,
  randomAuthkey,
  ServerHandshake,
  toAuthkey,
} from "./_auth.ts";
import { decode, encode } from "./_codec.ts";
import { checkMaxFrameBytes, FrameDecoder, HEADER_BYTES, writeHeader } from "./_frame.ts";
import { type CallContext, EngineHost } from "./_host.ts";
import type { Kinds } from "../core/structure.ts";
import {
  absolutePath,
  boundAddress,
  chmodOwnerOnly,
  connectTo,
  listen,
  type NetServer,
  type NetSocket,
  type NetTarget,
  pathKind,
  unlinkQuiet,
} from "./_runtime/net.ts";
import { allocateId } from "./_runtime/threads.ts";

// ---------------------------------------------------------------------------
// Addresses

/**
 * A parsed socket address: `unix:/path` or `tcp://host:port`.
 *
 * @example
 * ```ts
 * import type { SocketAddress } from "./socket.ts";
 * const a: SocketAddress = { kind: "tcp", host: "127.0.0.1", port: 7070 };
 * ```
 */
export type SocketAddress = NetTarget;

const TCP_RE = /^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[^:/?#\[\]@]+):(\d{1,5})\/?$/;

/**
 * Parses `unix:/path` (also `unix:///path` and relative `unix:name.sock`) or
 * `tcp://host:port` (IPv6 hosts in brackets); anything else is a
 * `TransportError("BadUrl")`.
 *
 * @example Parsing both forms
 * ```ts
 * import { parseAddress } from "./socket.ts";
 * console.log(parseAddress("unix:/tmp/app.sock")); // { kind: "unix", path: "/tmp/app.sock" }
 * console.log(parseAddress("tcp://127.0.0.1:7070")); // { kind: "tcp", host: "127.0.0.1", port: 7070 }
 * ```
 */
export function parseAddress(address: string): SocketAddress {
  if (typeof address !== "string") {
    throw new TransportError("BadUrl", `Cannot parse socket address as it is not a string: received ${typeof address}`);
  }
  if (address.startsWith("unix:")) {
    let path = address.slice(5);
    if (path.startsWith("//")) path = path.slice(2);
    if (path.length === 0 || path.includes("\0")) {
      throw new TransportError(
        "BadUrl",
        `Cannot parse socket address as its path is empty or invalid: received ${address}`,
      );
    }
    return { kind: "unix", path };
  }
  const m = TCP_RE.exec(address);
  if (m) {
    const port = Number(m[2]);
    if (port > 65535) {
      throw new TransportError(
        "BadUrl",
        `Cannot parse socket address as its port is out of range: received ${address}`,
      );
    }
    const host = m[1].startsWith("[") ? m[1].slice(1, -1) : m[1];
    return { kind: "tcp", host, port };
  }
  throw new TransportError(
    "BadUrl",
    `Cannot parse socket address as it is neither unix:/path nor tcp://host:port: received ${address}`,
  );
}

/**
 * The URL string of a parsed address (inverse of {@linkcode parseAddress}).
 *
 * @example
 * ```ts
 * import { formatAddress } from "./socket.ts";
 * console.log(formatAddress({ kind: "tcp", host: "::1", port: 80 })); // tcp://[::1]:80
 * ```
 */
export function formatAddress(address: SocketAddress): string {
  if (address.kind === "unix") return `unix:${address.path}`;
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  return `tcp://${host}:${address.port}`;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

// ---------------------------------------------------------------------------
// Shared bits of both ends

/** Status word of a response. */
const STATUS_OK = 0;
const STATUS_ERROR = 1;
/** Verbs of a request. */
const VERB_OPEN = "open";
const VERB_CALL = "call";
const VERB_CANCEL = "cancel";
/** Outgoing frames smaller than this are coalesced into one write per tick. */
const COALESCE_BYTES = 64 * 1024;

/** The `{ tag, reason, message }` form of an error on the wire. */
interface WireError {
  readonly tag: string;
  readonly reason: string;
  readonly message: string;
}

function toWireError(e: unknown): WireError {
  if (e instanceof Error) {
    const tagged = e as Error & { _tag?: unknown; reason?: unknown };
    return {
      tag: typeof tagged._tag === "string" ? tagged._tag : e.name,
      reason: typeof tagged.reason === "string" ? tagged.reason : "",
      message: e.message,
    };
  }
  return { tag: "Error", reason: "", message: String(e) };
}

function fromWireError(w: unknown): Error {
  const o = (typeof w === "object" && w !== null ? w : {}) as Record<string, unknown>;
  return reviveError(String(o.tag ?? "Error"), String(o.reason ?? ""), String(o.message ?? w));
}

/**
 * Writes frames to a socket, coalescing those queued in the same tick into
 * one write: a burst of pipelined calls (or of answers) costs one syscall.
 */
class FrameWriter {
  readonly #socket: NetSocket;
  #queue: Uint8Array[] = [];
  #bytes = 0;
  #scheduled = false;
  readonly #flush = () => this.flush();

  constructor(socket: NetSocket) {
    this.#socket = socket;
  }

  /** Queues one payload; it is framed and written at the end of this tick. */
  send(payload: Uint8Array): void {
    this.#queue.push(payload);
    this.#bytes += HEADER_BYTES + payload.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  /** Writes everything queued now. */
  flush(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    if (queue.length === 0) return;
    const socket = this.#socket;
    this.#queue = [];
    const total = this.#bytes;
    this.#bytes = 0;
    if (socket.destroyed) return;
    if (total <= COALESCE_BYTES) {
      const out = new Uint8Array(total);
      let o = 0;
      for (const p of queue) {
        writeHeader(out, o, p.length);
        out.set(p, o + HEADER_BYTES);
        o += HEADER_BYTES + p.length;
      }
      socket.write(out);
      return;
    }
    for (const p of queue) {
      const header = new Uint8Array(HEADER_BYTES);
      writeHeader(header, 0, p.length);
      socket.write(header);
      socket.write(p);
    }
  }
}

function writeRawFrame(socket: NetSocket, payload: Uint8Array): void {
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  writeHeader(out, 0, payload.length);
  out.set(payload, HEADER_BYTES);
  socket.write(out);
}

function checkHandshakeTimeout(ms: number | undefined): number {
  if (ms === undefined) return HANDSHAKE_TIMEOUT_MS;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new RangeError(`Cannot use handshakeTimeoutMs as it must be a positive number: received ${ms}`);
  }
  return ms;
}

// ---------------------------------------------------------------------------
// Server

/**
 * Options of {@linkcode startServer}.
 *
 * @example
 * ```ts
 * import type { ServerOptions } from "./socket.ts";
 * const options: ServerOptions = { address: "unix:/tmp/app.sock", maxFrameBytes: 1 << 20 };
 * ```
 */
export interface ServerOptions {
  /** `unix:/path` or `tcp://host:port` (port 0 picks a free port). */
  readonly address: string;
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
}

/**
 * A running manager server. `close()` (or `await using`) stops listening,
 * closes every connection — aborting their calls in flight and releasing what
 * they held — and removes the unix socket file.
 *
 * @example Serving until disposed
 * ```ts
 * import { startServer } from "./socket.ts";
 * import { KINDS } from "../kinds.ts";
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
 * in `server.address`, so the address means the same file in every process.
 *
 * @example Starting on a free TCP port
 * ```ts
 * import { startServer } from "./socket.ts";
 * const server = await startServer({ address: "tcp://127.0.0.1:0", authkey: "s3cret" });
 * console.log(server.address.startsWith("tcp://127.0.0.1:")); // true
 * await server.close();
 * ```
 */
export async function startServer(options: ServerOptions): Promise<ManagerServer> {
  let target = parseAddress(options.address);
  if (target.kind === "unix") target = { kind: "unix", path: absolutePath(target.path) };
  const authkey = options.authkey === undefined ? randomAuthkey() : toAuthkey(options.authkey);
  const maxFrameBytes = checkMaxFrameBytes(options.maxFrameBytes);
  const handshakeTimeoutMs = checkHandshakeTimeout(options.handshakeTimeoutMs);
  if (!options.host && !options.kinds) {
    throw new TypeError("Cannot start server as neither 'host' nor 'kinds' is given: received neither");
  }
  const host = options.host ?? new EngineHost(options.kinds!);
  if (target.kind === "tcp" && !isLoopback(target.host) && options.allowRemote !== true) {
    throw new TransportError(
      "Unsupported",
      `Cannot start manager on a non-loopback address without allowRemote: received ${options.address}`,
    );
  }
  if (target.kind === "unix") await clearStaleSocket(target.path, options.address);
  const server = new SocketServer(authkey, host, maxFrameBytes, handshakeTimeoutMs, target.kind === "tcp");
  let net: NetServer;
  try {
    net = await listen(target, (socket) => server.accept(socket));
  } catch (e) {
    throw new TransportError(
      "Connect",
      `Cannot start manager as listening failed (${
        (e as { code?: string }).code ?? (e as Error).message
      }): received ${options.address}`,
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
  readonly authkey: Uint8Array;
  readonly host: EngineHost;
  readonly maxFrameBytes: number;
  readonly handshakeTimeoutMs: number;
  readonly tcp: boolean;
  readonly #connections = new Set<ServerConnection>();
  #net: NetServer | undefined;
  #unixPath: string | undefined;
  #closing: Promise<void> | undefined;

  constructor(authkey: Uint8Array, host: EngineHost, maxFrameBytes: number, handshakeTimeoutMs: number, tcp: boolean) {
    this.tcp = tcp;
    this.authkey = authkey;
    this.host = host;
    this.maxFrameBytes = maxFrameBytes;
    this.handshakeTimeoutMs = handshakeTimeoutMs;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  started(net: NetServer, address: string, unixPath: string | undefined): void {
    this.#net = net;
    this.address = address;
    this.#unixPath = unixPath;
  }

  accept(socket: NetSocket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const c = new ServerConnection(this, socket);
    this.#connections.add(c);
  }

  forget(c: ServerConnection): void {
    this.#connections.delete(c);
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
    if (this.#unixPath !== undefined) await unlinkQuiet(this.#unixPath);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
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

function isCallId(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === "object" || typeof v === "function") && v !== null &&
    typeof (v as { then?: unknown }).then === "function";
}

/** One accepted socket: handshake, then requests until it closes. */
class ServerConnection {
  readonly #server: SocketServer;
  readonly #socket: NetSocket;
  readonly #decoder: FrameDecoder;
  readonly #writer: FrameWriter;
  readonly #inflight = new Map<number, ServerCall>();
  #handshake: ServerHandshake | null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #killTimer: ReturnType<typeof setTimeout> | undefined;
  #ownerId = 0;
  #closed = false;

  constructor(server: SocketServer, socket: NetSocket) {
    this.#server = server;
    this.#socket = socket;
    this.#decoder = new FrameDecoder(MAX_HANDSHAKE_FRAME_BYTES);
    this.#writer = new FrameWriter(socket);
    this.#handshake = new ServerHandshake(server.authkey);
    if (server.tcp) socket.setNoDelay(true);
    socket.on("data", this.#onData);
    socket.on("error", () => this.#teardown());
    socket.on("close", () => {
      if (this.#killTimer !== undefined) clearTimeout(this.#killTimer);
      this.#teardown();
    });
    this.#timer = setTimeout(() => this.destroy(), server.handshakeTimeoutMs);
    writeRawFrame(socket, this.#handshake.challenge);
  }

  /** Closes now, without a word to the peer. */
  destroy(): void {
    this.#teardown();
    this.#socket.destroy();
  }

  /** Sends a connection-level error frame, then closes. */
  #fail(error: TransportError): void {
    if (this.#closed) return;
    this.#writer.send(encode([null, STATUS_ERROR, toWireError(error)]));
    this.#writer.flush();
    this.#endGracefully();
  }

  /** Closes after what was written is sent; a peer that never closes its side is cut off after 1 s. */
  #endGracefully(): void {
    this.#teardown();
    this.#socket.end();
    this.#killTimer = setTimeout(() => this.#socket.destroy(), 1000);
  }

  #onData = (chunk: Uint8Array): void => {
    if (this.#closed) return;
    try {
      this.#decoder.push(chunk, this.#onFrame);
    } catch (e) {
      if (this.#handshake !== null) this.destroy();
      else if (e instanceof TransportError) this.#fail(e);
      else this.destroy();
    }
  };

  #onFrame = (payload: Uint8Array): boolean => {
    if (this.#closed) return false;
    if (this.#handshake !== null) {
      const { accepted, reply } = this.#handshake.check(payload);
      writeRawFrame(this.#socket, reply);
      if (!accepted) {
        this.#endGracefully();
        return false;
      }
      this.#handshake = null;
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#ownerId = allocateId();
      this.#decoder.maxFrameBytes = this.#server.maxFrameBytes;
      return true;
    }
    this.#onMessage(payload);
    return !this.#closed;
  };

  #onMessage(payload: Uint8Array): void {
    let msg: unknown;
    try {
      msg = decode(payload);
    } catch {
      this.#fail(
        new TransportError("Protocol", `Cannot read request as it is not valid CBOR: received ${payload.length} bytes`),
      );
      return;
    }
    if (!Array.isArray(msg) || !isCallId(msg[0])) {
      this.#fail(
        new TransportError(
          "Protocol",
          `Cannot read request as it is not an array starting with a call id: received ${describe(msg)}`,
        ),
      );
      return;
    }
    const callId = msg[0];
    const verb = msg[1];
    if (verb === VERB_CALL) {
      const op = msg[3];
      const args = msg[4];
      if (typeof op !== "string" || !Array.isArray(args)) {
        this.#replyError(
          callId,
          new TransportError("Protocol", `Cannot read call as its op or args are malformed: received ${describe(msg)}`),
        );
        return;
      }
      this.#call(callId, msg[2] as number, op, args);
    } else if (verb === VERB_CANCEL) {
      this.#inflight.get(callId)?.abort(new DOMException("The call was cancelled by the client", "AbortError"));
    } else if (verb === VERB_OPEN) {
      const kind = msg[2];
      const name = msg[3];
      const params = msg[4];
      if (typeof kind !== "string" || (name !== null && typeof name !== "string") || !Array.isArray(params)) {
        this.#replyError(
          callId,
          new TransportError(
            "Protocol",
            `Cannot read open as its kind, name or params are malformed: received ${describe(msg)}`,
          ),
        );
        return;
      }
      try {
        this.#replyOk(callId, this.#server.host.open(kind, name ?? undefined, params));
      } catch (e) {
        this.#replyError(callId, e);
      }
    } else {
      this.#replyError(
        callId,
        new TransportError("Protocol", `Cannot read request as its verb is unknown: received ${describe(verb)}`),
      );
    }
  }

  #call(callId: number, id: number, op: string, args: unknown[]): void {
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
      result = this.#server.host.call(id, op, args, ctx);
    } catch (e) {
      this.#replyError(callId, e);
      return;
    }
    if (!isThenable(result)) {
      this.#replyOk(callId, result);
      return;
    }
    this.#inflight.set(callId, ctx);
    result.then(
      (value) => {
        if (this.#inflight.get(callId) === ctx) this.#inflight.delete(callId);
        this.#replyOk(callId, value);
      },
      (error) => {
        if (this.#inflight.get(callId) === ctx) this.#inflight.delete(callId);
        this.#replyError(callId, error);
      },
    );
  }

  #replyOk(callId: number, value: unknown): void {
    if (this.#closed) return;
    let bytes: Uint8Array;
    try {
      bytes = encode([callId, STATUS_OK, value]);
    } catch (e) {
      this.#replyError(callId, e);
      return;
    }
    if (bytes.length > this.#server.maxFrameBytes) {
      this.#replyError(
        callId,
        new TransportError(
          "FrameTooLarge",
          `Cannot send result as it exceeds maxFrameBytes (${this.#server.maxFrameBytes}): received ${bytes.length}`,
        ),
      );
      return;
    }
    this.#writer.send(bytes);
  }

  #replyError(callId: number, error: unknown): void {
    if (this.#closed) return;
    this.#writer.send(encode([callId, STATUS_ERROR, toWireError(error)]));
  }

  /** Ends the connection's life on the server: calls aborted, owner released. Idempotent. */
  #teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#server.forget(this);
    if (this.#inflight.size > 0) {
      const reason = new TransportError("Closed", "Cannot complete call as its connection closed");
      for (const call of this.#inflight.values()) call.abort(reason);
      this.#inflight.clear();
    }
    if (this.#ownerId !== 0) this.#server.host.releaseOwner(this.#ownerId);
  }
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `array(${v.length})`;
  if (v === null) return "null";
  if (v instanceof Uint8Array) return `bytes(${v.length})`;
  if (typeof v === "object") return "object";
  return `${typeof v} ${String(v).slice(0, 40)}`;
}

// ---------------------------------------------------------------------------
// Client

/**
 * Options of {@linkcode connect}.
 *
 * @example
 * ```ts
 * import type { ConnectOptions } from "./socket.ts";
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
 * import type { CallOptions } from "./socket.ts";
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
 * are pipelined on the one socket. While no call is pending the socket does
 * not keep the process alive, so a worker that is done exits without closing.
 *
 * Failures: errors thrown by the remote operation are revived
 * (`LockError`, `QueueError`, `TransportError("UnknownOperation")`, …); if
 * the connection drops, every pending call rejects with
 * `TransportError("Closed")` and so does every later call.
 *
 * @example Opening a named structure and calling it
 * ```ts
 * import { connect } from "./socket.ts";
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
  open(
    kind: string,
    name: string | null | undefined,
    params: readonly unknown[],
  ): Promise<{ id: number; created: boolean }>;
  /** Calls operation `op` of structure `id`. */
  call(id: number, op: string, args: readonly unknown[], options?: CallOptions): Promise<unknown>;
  /** Closes the connection; pending calls reject with `TransportError("Closed")`. Idempotent. */
  close(): Promise<void>;
}

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** The signal fired and a cancel frame went out. */
  aborted: boolean;
}

function abortError(reason: unknown): Error {
  const e = new Error("Cannot complete call as its signal was aborted", { cause: reason });
  e.name = "AbortError";
  return e;
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
 * import { connect, startServer } from "./socket.ts";
 * await using server = await startServer({ address: "tcp://127.0.0.1:0" });
 * await using client = await connect(server.address, { authkey: server.authkey });
 * console.log(client.isClosed); // false
 * ```
 */
export async function connect(address: string, options: ConnectOptions): Promise<SocketClient> {
  const target = parseAddress(address);
  if (typeof options !== "object" || options === null || options.authkey === undefined) {
    throw new TypeError(`Cannot connect to manager as 'authkey' is missing: received ${String(options?.authkey)}`);
  }
  const authkey = toAuthkey(options.authkey);
  const maxFrameBytes = checkMaxFrameBytes(options.maxFrameBytes);
  const timeoutMs = checkHandshakeTimeout(options.handshakeTimeoutMs);
  const canonical = formatAddress(target);
  let socket: NetSocket;
  try {
    socket = await connectTo(target);
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === "ENOENT" || code === "ECONNREFUSED"
      ? "nothing listens there"
      : `it failed (${code ?? (e as Error).message})`;
    throw new TransportError("Connect", `Cannot connect to manager as ${why}: received ${canonical}`, { cause: e });
  }
  const client = new Client(socket, canonical, authkey, maxFrameBytes, timeoutMs);
  await client.ready;
  return client;
}

class Client implements SocketClient {
  readonly address: string;
  readonly closed: Promise<TransportError | undefined>;
  readonly ready: Promise<void>;
  readonly #socket: NetSocket;
  readonly #decoder: FrameDecoder;
  readonly #writer: FrameWriter;
  readonly #pending = new Map<number, Pending>();
  readonly #maxFrameBytes: number;
  #handshake: ClientHandshake | null;
  #handshakeStep = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #nextId = 1;
  #error: TransportError | undefined;
  #settleClosed!: (e: TransportError | undefined) => void;
  #settleReady!: (error?: unknown) => void;

  constructor(socket: NetSocket, address: string, authkey: Uint8Array, maxFrameBytes: number, timeoutMs: number) {
    this.#socket = socket;
    this.address = address;
    this.#maxFrameBytes = maxFrameBytes;
    this.#decoder = new FrameDecoder(MAX_HANDSHAKE_FRAME_BYTES);
    this.#writer = new FrameWriter(socket);
    this.#handshake = new ClientHandshake(authkey);
    this.closed = new Promise((resolve) => (this.#settleClosed = resolve));
    this.ready = new Promise<void>((resolve, reject) => {
      this.#settleReady = (error?: unknown) => (error === undefined ? resolve() : reject(error));
    });
    socket.on("data", this.#onData);
    socket.on("error", (e: Error) => this.#end(this.#dropError(e)));
    socket.on("close", () => this.#end(this.#dropError()));
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

  open(
    kind: string,
    name: string | null | undefined,
    params: readonly unknown[],
  ): Promise<{ id: number; created: boolean }> {
    if (typeof kind !== "string") {
      return Promise.reject(new TypeError(`Cannot open structure as 'kind' must be a string: received ${typeof kind}`));
    }
    if (!Array.isArray(params)) {
      return Promise.reject(
        new TypeError(`Cannot open structure as 'params' must be an array: received ${typeof params}`),
      );
    }
    const callId = this.#nextId++;
    return this.#request(callId, [callId, VERB_OPEN, kind, name ?? null, params], undefined) as Promise<
      { id: number; created: boolean }
    >;
  }

  call(id: number, op: string, args: readonly unknown[], options?: CallOptions): Promise<unknown> {
    if (!Array.isArray(args)) {
      return Promise.reject(new TypeError(`Cannot call ${op} as 'args' must be an array: received ${typeof args}`));
    }
    const callId = this.#nextId++;
    return this.#request(callId, [callId, VERB_CALL, id, op, args], options?.signal);
  }

  #request(callId: number, message: unknown[], signal: AbortSignal | undefined): Promise<unknown> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (signal?.aborted) return Promise.reject(abortError(signal.reason));
    let payload: Uint8Array;
    try {
      payload = encode(message);
    } catch (e) {
      return Promise.reject(e);
    }
    if (payload.length > this.#maxFrameBytes) {
      return Promise.reject(
        new TransportError(
          "FrameTooLarge",
          `Cannot send call as it exceeds maxFrameBytes (${this.#maxFrameBytes}): received ${payload.length}`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const p: Pending = { resolve, reject, signal, onAbort: undefined, aborted: false };
      if (signal !== undefined) {
        p.onAbort = () => this.#cancel(callId);
        signal.addEventListener("abort", p.onAbort, { once: true });
      }
      if (this.#pending.size === 0) this.#socket.ref();
      this.#pending.set(callId, p);
      this.#writer.send(payload);
    });
  }

  /** The signal fired: ask the server to abort; its answer settles the call. */
  #cancel(callId: number): void {
    const p = this.#pending.get(callId);
    if (p === undefined || p.aborted) return;
    p.aborted = true;
    p.signal!.removeEventListener("abort", p.onAbort!);
    p.onAbort = undefined;
    if (this.#error === undefined) this.#writer.send(encode([callId, VERB_CANCEL]));
  }

  #take(callId: unknown): Pending | undefined {
    const p = this.#pending.get(callId as number);
    if (p === undefined) return undefined;
    this.#pending.delete(callId as number);
    if (this.#pending.size === 0 && this.#error === undefined) this.#socket.unref();
    if (p.onAbort !== undefined) p.signal!.removeEventListener("abort", p.onAbort);
    return p;
  }

  #onData = (chunk: Uint8Array): void => {
    if (this.#error !== undefined) return;
    try {
      this.#decoder.push(chunk, this.#onFrame);
    } catch (e) {
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
    let msg: unknown;
    try {
      msg = decode(payload);
    } catch (e) {
      this.#end(
        new TransportError("Protocol", `Cannot read answer as it is not valid CBOR: received ${payload.length} bytes`, {
          cause: e,
        }),
      );
      return false;
    }
    if (!Array.isArray(msg)) {
      this.#end(new TransportError("Protocol", `Cannot read answer as it is not an array: received ${describe(msg)}`));
      return false;
    }
    const callId = msg[0];
    if (callId === null) {
      const e = fromWireError(msg[2]);
      this.#end(e instanceof TransportError ? e : new TransportError("Protocol", e.message, { cause: e }));
      return false;
    }
    const p = this.#take(callId);
    if (p === undefined) return true; // not a call of ours (a broken server): dropped
    if (msg[1] === STATUS_OK) p.resolve(msg[2]); // also when the op completed before the cancel reached it
    else if (p.aborted) p.reject(abortError(p.signal!.reason));
    else p.reject(fromWireError(msg[2]));
    return true;
  };

  #onHandshake(payload: Uint8Array): boolean {
    const hs = this.#handshake!;
    try {
      if (this.#handshakeStep++ === 0) {
        writeRawFrame(this.#socket, hs.answer(payload));
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
    if (this.#pending.size === 0) this.#socket.unref();
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
    this.#socket.destroy();
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
// Per-process client cache

const clients = new Map<string, Promise<SocketClient>>();

/**
 * The one shared client of this thread for `address` and `authkey`: many
 * structures attached in the same thread share one connection. A client that
 * closes (or fails to connect) leaves the cache, so the next call reconnects.
 * Closing a shared client closes it for every sharer; an idle one does not
 * keep the process alive, so there is usually no need to.
 *
 * @example Two lookups, one connection
 * ```ts
 * import { clientFor, startServer } from "./socket.ts";
 * await using server = await startServer({ address: "tcp://127.0.0.1:0" });
 * const a = await clientFor(server.address, server.authkey);
 * const b = await clientFor(server.address, server.authkey);
 * console.log(a === b); // true
 * ```
 */
export function clientFor(address: string, authkey: Uint8Array | string): Promise<SocketClient> {
  let canonical: string;
  let key: Uint8Array;
  try {
    canonical = formatAddress(parseAddress(address));
    key = toAuthkey(authkey);
  } catch (e) {
    return Promise.reject(e);
  }
  const cacheKey = `${canonical}\0${Array.from(key, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  const cached = clients.get(cacheKey);
  if (cached !== undefined) return cached;
  const promise = connect(canonical, { authkey: key });
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
