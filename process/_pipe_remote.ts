/**
 * How a {@linkcode Connection} crosses into a worker, in `spawn` args.
 *
 * To a thread, an end travels as its rings' SharedArrayBuffers. To a child
 * process it cannot (no shared memory between processes on every runtime),
 * so it stays here: this process's relay, a unix socket server in a
 * private directory, pumps the end's incoming ring into the socket the
 * child connects to (presenting a one-time token), and the socket's bytes
 * into the end's outgoing ring. The frames are the same on both, so the
 * relay copies bytes without decoding them. This process must live as
 * long as the child uses the end, as CPython's parent must for a manager.
 *
 * Either way the end passed belongs to the worker from then on: here it is
 * handed over (unusable), and when the worker exits its side is closed for
 * it, so the peer sees EOF.
 * @module
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { RingConnection, SocketConnection } from "./_connections.ts";
import { Ring } from "./_ring.ts";

/** Marker key of a pipe end inside wire arguments. */
export const PIPE_MARK = "__procshare_pipe__";

/** Bytes of the token a child presents to the relay. */
const TOKEN_BYTES = 16;
/** The relay's answer to a token: the end is there. */
const ACK_OK = 0;
/** The relay's answer to a token: the end is there and its peer no longer reads. */
const ACK_PEER_CLOSED = 1;
/** Bytes the relay moves from a ring to a socket at once. */
const CHUNK = 64 * 1024;
/** How long an exiting child waits for what its ends sent to reach the relay. */
const FLUSH_MS = 5_000;
/** How long a child keeps trying to reach the relay. */
const CONNECT_MS = 10_000;

/** A pipe end as it travels to a thread. */
interface ThreadEnd {
  readonly rx?: SharedArrayBuffer;
  readonly tx?: SharedArrayBuffer;
}

/** A pipe end as it travels to a process. */
interface ProcessEnd {
  readonly socket: string;
  readonly token: string;
  readonly readable: boolean;
  readonly writable: boolean;
}

/** The ends found in a worker's args, replaced by their wire forms. */
export interface PreparedPipes {
  /** The args with every end replaced (the same array when there is none). */
  readonly args: readonly unknown[];
  /** The worker was started: the ends now belong to it (call once). */
  commit(worker: string): void;
  /** The worker exited (or never started): close what it left open. */
  release(): void;
}

function isContainer(v: unknown): v is Record<string, unknown> | unknown[] {
  if (typeof v !== "object" || v === null) return false;
  if (Array.isArray(v)) return true;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** `v` with every value `f` maps (at any depth of arrays and plain objects) replaced. */
function mapDeep(v: unknown, f: (x: unknown) => unknown | undefined, seen = new Set<object>()): unknown {
  const mapped = f(v);
  if (mapped !== undefined) return mapped;
  if (!isContainer(v) || seen.has(v)) return v;
  seen.add(v);
  try {
    if (Array.isArray(v)) {
      const out = v.map((x) => mapDeep(x, f, seen));
      return out.every((x, i) => x === v[i]) ? v : out;
    }
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      const x = mapDeep(v[k], f, seen);
      if (x !== v[k]) changed = true;
      Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
    }
    return changed ? out : v;
  } finally {
    seen.delete(v);
  }
}

/**
 * Replaces the pipe ends in `args` by their wire forms for a worker of
 * kind `as`; nothing changes hands until `commit` (`check`: only the
 * checks, no relay started). Throws a `TypeError` for
 * an end that cannot go there (closed, already passed, or received from
 * another process).
 */
export function preparePipes(args: readonly unknown[], as: "thread" | "process", check = false): PreparedPipes {
  const ends: RingConnection[] = [];
  const tokens: Array<{ token: string; end: RingConnection }> = [];
  const out = mapDeep(args, (x) => {
    if (x instanceof SocketConnection) {
      throw new TypeError(
        "Cannot spawn worker as a pipe end this process received from its parent cannot be passed on: received a Connection",
      );
    }
    if (!(x instanceof RingConnection)) return undefined;
    if (x.closed) {
      throw new TypeError("Cannot spawn worker as a pipe end among its args is closed or was passed to a worker");
    }
    if (ends.includes(x)) throw new TypeError("Cannot spawn worker as the same pipe end is twice among its args");
    ends.push(x);
    if (as === "thread") return { [PIPE_MARK]: { rx: x.rx?.buffer, tx: x.tx?.buffer } satisfies ThreadEnd };
    const token = check ? "" : randomBytes(TOKEN_BYTES).toString("hex");
    tokens.push({ token, end: x });
    const wire: ProcessEnd = { socket: check ? "" : relayPath(), token, readable: x.readable, writable: x.writable };
    return { [PIPE_MARK]: wire };
  }) as readonly unknown[];
  let committed = false;
  return {
    args: out,
    commit(worker) {
      committed = true;
      for (const end of ends) end.handOver(worker);
      for (const { token, end } of tokens) waiting.set(token, end);
    },
    release() {
      if (!committed) return;
      if (as === "thread") {
        for (const end of ends) closeFor(end);
        return;
      }
      // an end whose child never connected; a connected one closes with its socket
      for (const { token, end } of tokens) {
        if (waiting.delete(token)) closeFor(end);
      }
    },
  };
}

/** Closes the side of `end` its (gone) worker held. */
function closeFor(end: RingConnection): void {
  end.rx?.closeReader();
  end.tx?.closeWriter();
}

// ——— the relay (the process that made the pipe) ———

let serverPath: string | undefined;
const waiting = new Map<string, RingConnection>();

/** The relay's socket path, starting it on first use (it keeps no process alive by itself). */
function relayPath(): string {
  if (serverPath !== undefined) return serverPath;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "procshare-pipe-"));
  const file = path.join(dir, "relay.sock");
  const s = net.createServer({ allowHalfOpen: true }, accept);
  s.on("error", () => {});
  s.listen(file);
  s.unref();
  process.on("exit", () => {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  });
  serverPath = file;
  return file;
}

function accept(socket: net.Socket): void {
  socket.on("error", () => {});
  let got = new Uint8Array(0);
  const onData = (d: Uint8Array) => {
    const all = new Uint8Array(got.length + d.length);
    all.set(got);
    all.set(d, got.length);
    got = all;
    if (got.length < TOKEN_BYTES) return;
    socket.off("data", onData);
    const token = Buffer.from(got.subarray(0, TOKEN_BYTES)).toString("hex");
    const end = waiting.get(token);
    if (end === undefined) return void socket.destroy();
    waiting.delete(token);
    // the answer: whether the peer already closed (the child's first send must fail then)
    socket.write(new Uint8Array([end.tx?.readerClosed() ? ACK_PEER_CLOSED : ACK_OK]));
    relay(end, socket, got.subarray(TOKEN_BYTES));
  };
  socket.on("data", onData);
}

/** Pumps `end`'s rings to and from the child's socket until either side is done. */
function relay(end: RingConnection, socket: net.Socket, first: Uint8Array): void {
  const { rx, tx } = end;
  // socket → tx ring, in order: the socket pauses while a chunk waits for room
  let chain: Promise<boolean> = Promise.resolve(true);
  const push = (chunk: Uint8Array) => {
    if (tx === undefined || chunk.length === 0) return;
    socket.pause();
    chain = chain.then((ok) => ok && tx.write(chunk)).then((ok) => {
      if (ok) socket.resume();
      else socket.destroy(); // the peer closed: the child's next send is a broken pipe
      return ok;
    });
  };
  push(first);
  socket.on("data", push);
  let finished = false;
  const childDone = () => {
    if (finished) return;
    finished = true;
    // the child closed its end or exited: what it sent first still reaches the peer
    void chain.then(() => tx?.closeWriter());
    rx?.closeReader();
  };
  socket.on("end", childDone);
  socket.on("close", childDone);
  // rx ring → socket, until the peer closed (then the child reads EOF) or the child is gone
  if (rx !== undefined) {
    void (async () => {
      for (;;) {
        const chunk = await rx.readSome(CHUNK);
        if (chunk === undefined || socket.destroyed) break;
        if (!socket.write(chunk)) {
          await new Promise<void>((resolve) => {
            const go = () => {
              socket.off("drain", go);
              socket.off("close", go);
              resolve();
            };
            socket.on("drain", go);
            socket.on("close", go);
          });
        }
      }
      if (!socket.destroyed) socket.end();
    })();
  } else {
    socket.end();
  }
}

// ——— the child's side ———

/** The socket ends this process received, flushed and closed before it exits. */
const received = new Set<SocketConnection>();
/** The ring ends this thread received, closed when it ends. */
const ringsReceived = new Set<RingConnection>();

function isMarked(v: unknown): v is Record<typeof PIPE_MARK, ThreadEnd | ProcessEnd> {
  return typeof v === "object" && v !== null && Object.hasOwn(v, PIPE_MARK);
}

async function connect(end: ProcessEnd): Promise<SocketConnection> {
  const deadline = performance.now() + CONNECT_MS;
  for (let attempt = 1;; attempt++) {
    try {
      const conn = await new Promise<SocketConnection>((resolve, reject) => {
        const s = net.connect({ path: end.socket, allowHalfOpen: true });
        const fail = (e: unknown) => reject(e);
        s.once("error", fail);
        s.once("close", () => fail(new Error("Cannot attach pipe end as the relay refused its token")));
        s.once("connect", () => s.write(Buffer.from(end.token, "hex")));
        // the relay's one-byte answer, then the end's data (the connection takes over the socket at once)
        s.once("data", (d: Uint8Array) => {
          s.off("error", fail);
          s.removeAllListeners("close");
          const conn = new SocketConnection(s, end.readable, end.writable, d.subarray(1), d[0] === ACK_PEER_CLOSED);
          resolve(conn);
        });
      });
      received.add(conn);
      return conn;
    } catch (e) {
      // the relay may not listen yet (it starts as the child is spawned)
      const code = (e as { code?: string }).code;
      if ((code !== "ENOENT" && code !== "ECONNREFUSED") || performance.now() > deadline) throw e;
      await new Promise((resolve) => setTimeout(resolve, Math.min(10 * attempt, 200)));
    }
  }
}

/** Replaces the wire forms of pipe ends in a worker's args by Connections. */
export async function attachPipes(args: unknown[]): Promise<unknown[]> {
  // an end to connect is a placeholder at first, swapped for its Connection once connected
  const holders = new Map<object, Promise<SocketConnection>>();
  const out = mapDeep(args, (x) => {
    if (!isMarked(x)) return undefined;
    const wire = x[PIPE_MARK];
    if ("socket" in wire) {
      const holder = {};
      holders.set(holder, connect(wire));
      return holder;
    }
    const conn = new RingConnection(
      wire.rx ? new Ring(wire.rx) : undefined,
      wire.tx ? new Ring(wire.tx) : undefined,
    );
    ringsReceived.add(conn);
    return conn;
  }) as unknown[];
  if (holders.size === 0) return out;
  const connected = new Map<object, SocketConnection>();
  await Promise.all([...holders].map(async ([holder, conn]) => connected.set(holder, await conn)));
  return mapDeep(out, (x) => (typeof x === "object" && x !== null ? connected.get(x) : undefined)) as unknown[];
}

/** Before this worker exits: what its ends sent is flushed, and they are closed. */
export async function closeReceivedPipes(): Promise<void> {
  for (const conn of ringsReceived) conn.close();
  if (received.size === 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all([...received].map((c) => c.flush())),
    // a relay that stopped reading must not keep the worker from exiting
    new Promise((resolve) => (timer = setTimeout(resolve, FLUSH_MS))),
  ]);
  clearTimeout(timer);
}
