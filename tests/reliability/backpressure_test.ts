/**
 * The socket server under slow readers and stalled senders (issue 8, item 7),
 * and results over the frame limit:
 *
 * - a client that pipelines 100 gets of a 4 MiB value and does not read makes
 *   the server stop reading from it once its unsent replies pass the bound:
 *   the server runs a handful of the gets, not 100, and holds a bounded number
 *   of bytes for it; when the client reads again, every reply arrives, in full;
 * - an authenticated client that stalls in the middle of a frame is cut off
 *   after `frameTimeoutMs`, with an error frame saying so, while an idle
 *   connection (no frame begun) is not;
 * - a result over `maxFrameBytes` (`dict.entries` of a big dict) is an error to
 *   that caller naming the operation, its size, the limit and what to do.
 * @module
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { TransportError } from "../../errors.ts";
import { ClientHandshake } from "../../transports/_auth.ts";
import { encode } from "../../transports/_codec.ts";
import { frame, FrameDecoder, writeHeader } from "../../transports/_frame.ts";
import { EngineHost } from "../../transports/_host.ts";
import { connectTo, type NetSocket } from "../../transports/_runtime/net.ts";
import { parseReply, STATUS_OK } from "../../transports/_wire.ts";
import { KINDS } from "../../kinds.ts";
import { socketAddress } from "../../transports/socket/address.ts";
import { connect, type SocketClient } from "../../transports/socket/client.ts";
import { type ManagerServer, startServer } from "../../transports/socket/server.ts";

/** The value each pipelined get reads. */
const VALUE_BYTES = 4 << 20;
/** Pipelined gets sent before the client stops reading. */
const GETS = 100;
/** The server's frame limit here: a 4 MiB reply fits, so the default bound is 16 MiB. */
const MAX_FRAME = 8 << 20;
const BOUND = 2 * MAX_FRAME;

/** Resolves once `cond()` holds, checking every few ms; rejects after `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Rejects after `ms` unless `p` settles first; the timer never outlives it. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** A raw authenticated socket that reads only when told to. */
class Raw {
  readonly socket: NetSocket;
  readonly frames: Uint8Array[] = [];
  readonly closed: Promise<void>;
  #wake: (() => void) | undefined;

  private constructor(socket: NetSocket) {
    this.socket = socket;
    const decoder = new FrameDecoder(1 << 30);
    socket.on("data", (chunk: Uint8Array) => {
      decoder.push(chunk, (p) => {
        this.frames.push(p.slice());
      });
      this.#wake?.();
    });
    socket.on("error", () => {});
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        resolve();
        this.#wake?.();
      })
    );
  }

  static async authenticated(address: string, authkey: Uint8Array): Promise<Raw> {
    const raw = new Raw(await connectTo(socketAddress(address)));
    const hs = new ClientHandshake(authkey);
    raw.socket.write(frame(hs.answer(await raw.#frame(0))));
    hs.finish(await raw.#frame(1));
    return raw;
  }

  async #frame(index: number): Promise<Uint8Array> {
    while (this.frames.length <= index) await new Promise<void>((resolve) => (this.#wake = resolve));
    return this.frames[index];
  }

  /** Resolves once `n` frames after the handshake's two have arrived. */
  async replies(n: number): Promise<(readonly unknown[])[]> {
    await this.#frame(n + 1);
    return this.frames.slice(2, n + 2).map((f) => {
      const parsed = parseReply(f);
      assert.ok(parsed.ok);
      return parsed.reply as readonly unknown[];
    });
  }
}

describe("backpressure: a client that stops reading", () => {
  let server: ManagerServer;
  let client: SocketClient;
  let dictId: number;
  /** Dict gets the server ran. */
  let gets = 0;

  before(async () => {
    const host = new EngineHost(KINDS);
    const call = host.call.bind(host);
    host.call = (id, op, args, ctx) => {
      if (op === "get") gets++;
      return call(id, op, args, ctx);
    };
    server = await startServer({
      address: `unix:/tmp/procshare-backpressure-${process.pid}.sock`,
      host,
      maxFrameBytes: MAX_FRAME,
    });
    client = await connect(server.address, { authkey: server.authkey, maxFrameBytes: MAX_FRAME });
    dictId = (await client.open("dict", "big", [])).id;
    await client.call(dictId, "set", ["v", new Uint8Array(VALUE_BYTES).fill(7)]);
  });
  after(async () => {
    await client?.close();
    await server?.close();
    server?.host.clear();
  });

  it(`pipelining ${GETS} gets of 4 MiB and not reading: the server stops reading at the bound, then every reply arrives`, async () => {
    const raw = await Raw.authenticated(server.address, server.authkey);
    raw.socket.pause();
    const rss = process.memoryUsage().rss;
    const requests = Array.from({ length: GETS }, (_, i) => [...frame(encode([i + 1, "call", dictId, "get", ["v"]]))]);
    raw.socket.write(new Uint8Array(requests.flat()));

    await until(() => server.pausedConnections === 1, 10_000, "the server pauses the connection");
    const ranAtPause = gets;
    const pending = server.pendingReplyBytes;
    const grown = process.memoryUsage().rss - rss;
    console.log(
      `paused after ${ranAtPause} of ${GETS} gets; ${(pending / 2 ** 20).toFixed(1)} MiB unsent ` +
        `(bound ${BOUND / 2 ** 20} MiB); RSS +${(grown / 2 ** 20).toFixed(0)} MiB`,
    );
    // without backpressure all 100 run at once and 400 MiB of replies wait in the server
    assert.ok(ranAtPause < GETS / 4, `ran ${ranAtPause} gets before pausing`);
    assert.ok(pending <= BOUND + MAX_FRAME, `${pending} bytes unsent`);
    assert.ok(grown < 300 << 20, `RSS grew by ${grown} bytes`);
    // paused means paused: more turns of the event loop run no more gets
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(gets, ranAtPause);
    assert.equal(server.pausedConnections, 1);

    let peak = 0;
    raw.socket.on("data", () => (peak = Math.max(peak, server.pendingReplyBytes)));
    raw.socket.resume();
    const replies = await raw.replies(GETS);
    assert.deepEqual(replies.map((r) => r[0]), Array.from({ length: GETS }, (_, i) => i + 1));
    for (const r of replies) {
      assert.equal(r[1], STATUS_OK);
      assert.equal((r[2] as Uint8Array).length, VALUE_BYTES);
    }
    assert.equal(gets, ranAtPause + (GETS - ranAtPause));
    assert.ok(peak <= BOUND + MAX_FRAME, `peak of ${peak} bytes unsent while draining`);
    assert.equal(server.pausedConnections, 0);
    raw.socket.destroy();
    await raw.closed;
  });

  it("a result over maxFrameBytes is an error naming the operation, its size, the limit and what to do", async () => {
    const { id } = await client.open("dict", null, []);
    for (let i = 0; i < 3; i++) await client.call(id, "set", [`k${i}`, new Uint8Array(VALUE_BYTES)]);
    await assert.rejects(client.call(id, "entries", []), (e: unknown) => {
      assert.ok(e instanceof TransportError);
      assert.equal(e.reason, "FrameTooLarge");
      assert.match(e.message, /^Cannot send the result of dict\.entries as it exceeds maxFrameBytes \(8388608; /);
      assert.match(e.message, /keys\(\) then get\(\) per key/);
      assert.match(e.message, /received 125829\d\d bytes$/);
      return true;
    });
    // the connection is unharmed
    assert.deepEqual(await client.call(id, "keys", []), ["k0", "k1", "k2"]);
  });
});

describe("a sender that stalls mid-frame", () => {
  const FRAME_TIMEOUT_MS = 300;
  let server: ManagerServer;

  before(async () => {
    server = await startServer({
      address: `unix:/tmp/procshare-stall-${process.pid}.sock`,
      kinds: KINDS,
      frameTimeoutMs: FRAME_TIMEOUT_MS,
    });
  });
  after(() => server?.close());

  it("is cut off after frameTimeoutMs with an error frame; an idle connection is not", async () => {
    const idle = await connect(server.address, { authkey: server.authkey });
    const { id } = await idle.open("dict", "stall", []);
    const stalled = await Raw.authenticated(server.address, server.authkey);
    const header = new Uint8Array(4);
    writeHeader(header, 0, 1000);
    const started = performance.now();
    stalled.socket.write(new Uint8Array([...header, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    await within(stalled.closed, 5000, "the stalled connection is cut off");
    const waited = performance.now() - started;
    assert.ok(waited >= FRAME_TIMEOUT_MS - 20, `cut off after ${waited} ms`);
    assert.ok(waited < 5000, `cut off after ${waited} ms`);
    const last = parseReply(stalled.frames.at(-1)!);
    assert.ok(last.ok);
    assert.equal(last.reply[0], null);
    assert.match(
      String((last.reply[2] as { message: string }).message),
      /^Cannot receive frame as it did not arrive whole within frameTimeoutMs \(300\): received 14 bytes of it$/,
    );
    // the idle connection outlived the stalled one's timeout and is served
    await idle.call(id, "set", ["a", 1]);
    assert.equal(await idle.call(id, "get", ["a"]), 1);
    await idle.close();
    await until(() => server.connectionCount === 0, 5000, "both connections end on the server");
  });

  it("a frame trickled in pieces but completed in time is served", async () => {
    const raw = await Raw.authenticated(server.address, server.authkey);
    const bytes = frame(encode([1, "open", "dict", "trickle", []]));
    for (let i = 0; i < bytes.length; i++) {
      raw.socket.write(bytes.subarray(i, i + 1));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const [reply] = await raw.replies(1);
    assert.equal(reply[0], 1);
    assert.equal(reply[1], STATUS_OK);
    raw.socket.destroy();
    await raw.closed;
  });
});
