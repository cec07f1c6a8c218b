/**
 * The socket transport: frames, handshake, server and client over unix
 * sockets and TCP. Runs unchanged on Node (`node --import tsx --test`), Deno
 * (`deno test -A`) and Bun (`bun test`).
 *
 * The real structures are registered by their own modules; here a small
 * `echo-test` kind stands in, with hooks that let a test wait for the server
 * to reach a point (no sleeps as synchronisation).
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { LockError, TransportError } from "../../errors.ts";
import { ClientHandshake, randomAuthkey, ServerHandshake, toAuthkey } from "../../transports/_auth.ts";
import { Authkey } from "../../core/backend.ts";
import { decode, encode } from "../../transports/_codec.ts";
import { frame, FrameDecoder } from "../../transports/_frame.ts";
import { type CallContext, EngineHost } from "../../transports/_host.ts";
import { defineStructure } from "../../core/structure.ts";
import { KINDS } from "../../kinds.ts";
import { connectTo, fileMode, listen, type NetSocket, pathKind } from "../../transports/_runtime/net.ts";
import { socketAddress, UNIX_PATH_MAX_BYTES } from "../../transports/socket/address.ts";
import { type ManagerServer, type ServerOptions, startServer } from "../../transports/socket/server.ts";
import { clientFor, connect, type SocketClient } from "../../transports/socket/client.ts";

// ---------------------------------------------------------------------------
// Helpers

interface Deferred<T = void> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Per-tag hooks of the blocking ops: when one started (with its owner id), why
 * it was aborted, and (for `hold`) the value that completes it.
 */
interface Watch {
  readonly started: Deferred<number>;
  readonly aborted: Deferred<unknown>;
  readonly release: Deferred<unknown>;
}
const watches = new Map<string, Watch>();
function watch(tag: string): Watch {
  const w = { started: deferred<number>(), aborted: deferred<unknown>(), release: deferred<unknown>() };
  watches.set(tag, w);
  return w;
}

/** Calls of `gate` wait until `target` of them are in flight at once. */
let gate = { count: 0, target: 0, open: deferred() };

interface EchoEngine {
  runs: number;
}

const echoSpec = defineStructure({
  kind: "echo-test",
  create: (): EchoEngine => ({ runs: 0 }),
  share: () => ({}),
  open: (): EchoEngine => ({ runs: 0 }),
  client: () => undefined,
  ops: {
    echo: (e: EchoEngine, args: unknown[]) => {
      e.runs++;
      return args[0];
    },
    runs: (e: EchoEngine) => e.runs,
    gate: (_e: EchoEngine, args: unknown[]) => {
      if (++gate.count === gate.target) gate.open.resolve();
      return gate.open.promise.then(() => args[0]);
    },
    block: (_e: EchoEngine, args: unknown[], ctx: CallContext) =>
      new Promise((_resolve, reject) => {
        const w = watches.get(args[0] as string)!;
        ctx.signal!.addEventListener("abort", () => {
          w.aborted.resolve(ctx.signal!.reason);
          reject(new LockError("Aborted", "Cannot acquire lock as the call was aborted"));
        }, { once: true });
        w.started.resolve(ctx.ownerId);
      }),
    hold: (_e: EchoEngine, args: unknown[], ctx: CallContext) => {
      const w = watches.get(args[0] as string)!;
      w.started.resolve(ctx.ownerId);
      return w.release.promise;
    },
    fail: () => {
      throw new LockError("Timeout", "Cannot acquire lock as the timeout elapsed: received 5");
    },
    bytes: (_e: EchoEngine, args: unknown[]) => new Uint8Array(args[0] as number),
    fn: () => () => 1,
  },
});

/** The kinds the test server hosts: procshare's, plus the echo kind. */
const TEST_KINDS = { ...KINDS, "echo-test": echoSpec };

/** An EngineHost that reports every released owner. */
class SpyHost extends EngineHost {
  readonly released: number[] = [];
  constructor() {
    super(TEST_KINDS);
  }
  #waiters: Array<{ ownerId: number; done: Deferred }> = [];
  override releaseOwner(ownerId: number): void {
    super.releaseOwner(ownerId);
    this.released.push(ownerId);
    for (const w of this.#waiters) if (w.ownerId === ownerId) w.done.resolve();
  }
  whenReleased(ownerId: number): Promise<void> {
    if (this.released.includes(ownerId)) return Promise.resolve();
    const done = deferred();
    this.#waiters.push({ ownerId, done });
    return done.promise;
  }
}

let seq = 0;
function unixAddress(): string {
  return `unix:/tmp/procshare-socket-test-${process.pid}-${++seq}.sock`;
}

/** A server for one test; `await using` closes it when the test ends. */
function serve(address: string, extra: Omit<ServerOptions, "address"> = {}): Promise<ManagerServer> {
  return startServer({ address, kinds: TEST_KINDS, ...extra });
}

/** A raw socket with a frame reader, to speak (or break) the protocol by hand. */
class Raw {
  readonly socket: NetSocket;
  readonly #frames: Uint8Array[] = [];
  #waiter: Deferred | undefined;
  readonly ended: Promise<void>;

  private constructor(socket: NetSocket) {
    this.socket = socket;
    const decoder = new FrameDecoder();
    const ended = deferred();
    this.ended = ended.promise;
    socket.on("data", (chunk: Uint8Array) => {
      decoder.push(chunk, (p) => {
        this.#frames.push(p);
      });
      this.#waiter?.resolve();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      ended.resolve();
      this.#waiter?.resolve();
    });
  }

  static async connect(address: string): Promise<Raw> {
    return new Raw(await connectTo(socketAddress(address)));
  }

  /** Connects and completes the handshake with `authkey`. */
  static async authenticated(address: string, authkey: Uint8Array): Promise<Raw> {
    const raw = await Raw.connect(address);
    const hs = new ClientHandshake(authkey);
    raw.send(hs.answer((await raw.next())!));
    hs.finish((await raw.next())!);
    return raw;
  }

  /** The next frame, or undefined once the peer has closed. */
  async next(): Promise<Uint8Array | undefined> {
    while (this.#frames.length === 0) {
      if (this.socket.destroyed || this.socket.readableEnded) return undefined;
      this.#waiter = deferred();
      await this.#waiter.promise;
    }
    return this.#frames.shift();
  }

  send(payload: Uint8Array): void {
    this.socket.write(frame(payload));
  }
}

function isTransportError(reason: string): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof TransportError, `expected TransportError, got ${String(e)}`);
    assert.equal(e.reason, reason);
    return true;
  };
}

// ---------------------------------------------------------------------------
// Frames and handshake, without sockets

describe("FrameDecoder", () => {
  it("splits coalesced frames and joins split ones, at every cut", () => {
    const payloads = [new Uint8Array(0), new Uint8Array([1, 2, 3]), new Uint8Array(300).fill(7), new Uint8Array([9])];
    const stream = new Uint8Array(payloads.reduce((n, p) => n + 4 + p.length, 0));
    let o = 0;
    for (const p of payloads) {
      stream.set(frame(p), o);
      o += 4 + p.length;
    }
    for (let cut1 = 0; cut1 <= stream.length; cut1 += 7) {
      for (const cut2 of [cut1, Math.min(stream.length, cut1 + 1), Math.min(stream.length, cut1 + 5)]) {
        const d = new FrameDecoder();
        const got: number[][] = [];
        for (const part of [stream.subarray(0, cut1), stream.subarray(cut1, cut2), stream.subarray(cut2)]) {
          d.push(part, (p) => {
            got.push([...p]);
          });
        }
        assert.deepEqual(got, payloads.map((p) => [...p]));
        assert.equal(d.buffered, 0);
      }
    }
  });

  it("refuses a frame over the limit from its header alone", () => {
    const d = new FrameDecoder(16);
    const header = frame(new Uint8Array(17)).subarray(0, 4);
    assert.throws(() => d.push(header, () => {}), isTransportError("FrameTooLarge"));
    assert.throws(() => new FrameDecoder(0), RangeError);
  });
});

describe("handshake", () => {
  it("accepts the right key in both directions", () => {
    const s = new ServerHandshake("k1");
    const c = new ClientHandshake(new TextEncoder().encode("k1"));
    const { accepted, reply } = s.check(c.answer(s.challenge));
    assert.equal(accepted, true);
    c.finish(reply);
  });

  it("refuses a wrong key, and a server that cannot prove the key", () => {
    const s = new ServerHandshake("right");
    const c = new ClientHandshake("wrong");
    const { accepted, reply } = s.check(c.answer(s.challenge));
    assert.equal(accepted, false);
    assert.throws(() => c.finish(reply), isTransportError("Auth"));
    // an impostor replies WELCOME with a digest made without the key
    const c2 = new ClientHandshake("right");
    c2.answer(new ServerHandshake("right").challenge);
    const fake = new Uint8Array([...new TextEncoder().encode("#WELCOME#"), ...new Uint8Array(32)]);
    assert.throws(() => c2.finish(fake), isTransportError("Auth"));
    assert.throws(() => new ClientHandshake(""), TypeError);
  });

  it('reads a string key of 64 hex digits, or one after "hex:", as hex, and any other as a passphrase', () => {
    const key = randomAuthkey();
    const hex = Authkey.wrap(key).toHex();
    assert.equal(hex, Array.from(key, (b) => b.toString(16).padStart(2, "0")).join(""));
    assert.deepEqual(toAuthkey(hex), key);
    assert.deepEqual(toAuthkey(hex.toUpperCase()), key);
    assert.deepEqual(toAuthkey(`hex:${hex}`), key);
    assert.deepEqual([...toAuthkey("hex:0a0B")], [10, 11]);
    const utf8 = (s: string) => new TextEncoder().encode(s);
    assert.deepEqual(toAuthkey("abc"), utf8("abc"));
    assert.deepEqual(toAuthkey("ab".repeat(31)), utf8("ab".repeat(31)), "62 hex digits are a passphrase");
    assert.deepEqual(toAuthkey(`${hex.slice(1)}g`), utf8(`${hex.slice(1)}g`), "64 characters, not all hex");
    for (const bad of ["hex:", "hex:abc", "hex:zz"]) {
      assert.throws(() => toAuthkey(bad), (e) => e instanceof TypeError && !e.message.includes(bad.slice(4) || "@"));
    }
    // a server given the bytes and a client given their hex share the key
    const s = new ServerHandshake(key);
    const c = new ClientHandshake(hex);
    const { accepted, reply } = s.check(c.answer(s.challenge));
    assert.equal(accepted, true);
    c.finish(reply);
  });
});

// ---------------------------------------------------------------------------
// Server and client

for (const transport of ["unix", "tcp"] as const) {
  describe(`socket over ${transport}`, () => {
    const address = () => (transport === "unix" ? unixAddress() : "tcp://127.0.0.1:0");

    it("shakes hands, opens by name and calls", async () => {
      await using server = await serve(address(), { authkey: "secret" });
      if (transport === "tcp") assert.match(server.address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual([...server.authkey], [...new TextEncoder().encode("secret")]);
      await using client = await connect(server.address, { authkey: "secret" });
      const a = await client.open("echo-test", "e1", []);
      const b = await client.open("echo-test", "e1", []);
      assert.deepEqual(b, { id: a.id, created: false });
      assert.equal(a.created, true);
      const value = { s: "x", n: [1, 2.5, -3n], m: new Map([["k", new Uint8Array([1, 2])]]), d: new Date(5) };
      assert.deepEqual(await client.call(a.id, "echo", [value]), value);
      assert.equal(await client.call(a.id, "echo", []), undefined);
    });

    it("refuses a wrong authkey before any operation runs", async () => {
      await using server = await serve(address());
      await using good = await connect(server.address, { authkey: server.authkey });
      const { id } = await good.open("echo-test", null, []);

      await assert.rejects(connect(server.address, { authkey: "wrong" }), isTransportError("Auth"));

      // a peer that answers wrongly and pipelines a call right behind the answer
      const raw = await Raw.connect(server.address);
      const hs = new ClientHandshake("wrong");
      const answer = frame(hs.answer((await raw.next())!));
      const call = frame(encode([1, "call", id, "echo", ["sneaky"]]));
      raw.socket.write(new Uint8Array([...answer, ...call]));
      assert.equal(new TextDecoder().decode(await raw.next()), "#FAILURE#");
      assert.equal(await raw.next(), undefined);
      await raw.ended;

      // a peer that skips the handshake and sends a call as its first frame
      const raw2 = await Raw.connect(server.address);
      await raw2.next();
      raw2.send(encode([1, "call", id, "echo", ["sneaky"]]));
      assert.equal(new TextDecoder().decode(await raw2.next()), "#FAILURE#");
      await raw2.ended;

      assert.equal(await good.call(id, "runs", []), 0);
    });

    it("pipelines 100 calls in flight on one connection", async () => {
      await using server = await serve(address());
      await using client = await connect(server.address, { authkey: server.authkey });
      const { id } = await client.open("echo-test", null, []);
      gate = { count: 0, target: 100, open: deferred() };
      // every gate call resolves only once all 100 are in flight on the server
      const gated = Array.from({ length: 100 }, (_, i) => client.call(id, "gate", [i * 3]));
      const direct = Array.from({ length: 100 }, (_, i) => client.call(id, "echo", [`v${i}`]));
      assert.deepEqual(await Promise.all(gated), Array.from({ length: 100 }, (_, i) => i * 3));
      assert.deepEqual(await Promise.all(direct), Array.from({ length: 100 }, (_, i) => `v${i}`));
    });

    it("cancels a blocking op on the server when the client's signal aborts", async () => {
      await using server = await serve(address());
      await using client = await connect(server.address, { authkey: server.authkey });
      const { id } = await client.open("echo-test", null, []);
      const w = watch(`cancel-${transport}`);
      const ac = new AbortController();
      const pending = client.call(id, "block", [`cancel-${transport}`], { signal: ac.signal });
      await w.started.promise;
      const mine = new Error("mine");
      ac.abort(mine);
      await assert.rejects(pending, (e: unknown) => {
        assert.equal((e as Error).name, "AbortError");
        assert.equal((e as Error).cause, mine);
        return true;
      });
      const reason = await w.aborted.promise;
      assert.equal((reason as Error).name, "AbortError");
      // the connection is still good, and an already-aborted signal never leaves the client
      assert.equal(await client.call(id, "echo", ["after"]), "after");
      await assert.rejects(client.call(id, "echo", [1], { signal: AbortSignal.abort() }), { name: "AbortError" });
    });

    it("resolves an aborted call whose op completed before the cancel arrived", async () => {
      await using server = await serve(address());
      await using client = await connect(server.address, { authkey: server.authkey });
      const { id } = await client.open("echo-test", null, []);
      const tag = `late-${transport}`;
      const w = watch(tag);
      const ac = new AbortController();
      const pending = client.call(id, "hold", [tag], { signal: ac.signal });
      await w.started.promise;
      ac.abort();
      // the op completes in this same tick, before the server can read the cancel frame
      w.release.resolve("taken");
      assert.equal(await pending, "taken");
      assert.equal(await client.call(id, "echo", ["next"]), "next");
    });

    it("aborts calls in flight and releases the owner when a connection drops", async () => {
      const host = new SpyHost();
      await using server = await serve(address(), { host });
      const client = await connect(server.address, { authkey: server.authkey });
      const { id } = await client.open("echo-test", null, []);
      const w = watch(`drop-${transport}`);
      const pending = client.call(id, "block", [`drop-${transport}`]);
      const ownerId = await w.started.promise;
      const rejected = assert.rejects(pending, isTransportError("Closed"));
      await client.close();
      await rejected;
      await host.whenReleased(ownerId);
      const reason = await w.aborted.promise;
      assert.ok(reason instanceof TransportError && reason.reason === "Closed");
      assert.equal(await client.closed, undefined);
      await assert.rejects(client.call(id, "echo", [1]), isTransportError("Closed"));
    });

    it("answers an oversize frame and malformed CBOR with an error and a close, and keeps serving others", async () => {
      await using server = await serve(address(), { maxFrameBytes: 1024 });
      await using other = await connect(server.address, { authkey: server.authkey, maxFrameBytes: 1024 });
      const { id } = await other.open("echo-test", null, []);

      const big = await Raw.authenticated(server.address, server.authkey);
      const header = frame(new Uint8Array(0));
      new DataView(header.buffer).setUint32(0, 1025);
      big.socket.write(header);
      const e1 = decode((await big.next())!) as [null, number, { tag: string; reason: string }];
      assert.deepEqual([e1[0], e1[1], e1[2].tag, e1[2].reason], [null, 1, "TransportError", "FrameTooLarge"]);
      await big.ended;

      const bad = await Raw.authenticated(server.address, server.authkey);
      bad.send(new Uint8Array([0xff, 0xff, 0x1c]));
      const e2 = decode((await bad.next())!) as [null, number, { tag: string; reason: string }];
      assert.deepEqual([e2[0], e2[1], e2[2].reason], [null, 1, "Protocol"]);
      await bad.ended;

      // an unknown verb with a readable call id is answered, and the connection stays
      const odd = await Raw.authenticated(server.address, server.authkey);
      odd.send(encode([7, "dance"]));
      const e3 = decode((await odd.next())!) as [number, number, { reason: string }];
      assert.deepEqual([e3[0], e3[1], e3[2].reason], [7, 1, "Protocol"]);
      odd.send(encode([8, "call", id, "echo", ["still here"]]));
      assert.deepEqual(decode((await odd.next())!), [8, 0, "still here"]);
      odd.socket.destroy();

      assert.equal(await other.call(id, "echo", ["fine"]), "fine");
      // results over the limit become a typed error, not a broken stream
      // and every one of them says how to raise the limit
      const saysHow = (e: unknown) =>
        isTransportError("FrameTooLarge")(e) &&
        /maxFrameBytes \(1024; raise it with the maxFrameBytes option of Manager\.start and Manager\.connect/.test(
          (e as Error).message,
        );
      await assert.rejects(other.call(id, "bytes", [4096]), saysHow);
      await assert.rejects(other.call(id, "echo", [new Uint8Array(4096)]), saysHow);
      assert.equal(await other.call(id, "echo", ["still fine"]), "still fine");
    });

    it("returns typed errors: unknown op, unknown id, remote errors, unencodable results", async () => {
      await using server = await serve(address());
      await using client = await connect(server.address, { authkey: server.authkey });
      const { id } = await client.open("echo-test", null, []);
      await assert.rejects(client.call(id, "nope", []), isTransportError("UnknownOperation"));
      await assert.rejects(client.call(id, "constructor", []), isTransportError("UnknownOperation"));
      await assert.rejects(client.call(9999, "echo", []), isTransportError("NotFound"));
      await assert.rejects(client.open("no-such-kind", null, []), isTransportError("UnknownOperation"));
      await assert.rejects(client.call(id, "fail", []), (e: unknown) => {
        assert.ok(e instanceof LockError);
        assert.equal(e.reason, "Timeout");
        return true;
      });
      await assert.rejects(client.call(id, "fn", []), { name: "CodecError" });
      await assert.rejects(client.call(id, "echo", [() => 1]), { name: "CodecError" });
      assert.equal(await client.call(id, "echo", [1]), 1);
    });

    it("rejects pending calls with Closed when the server closes", async () => {
      const server = await startServer({ address: address(), kinds: TEST_KINDS });
      const client = await connect(server.address, { authkey: server.authkey });
      const { id } = await client.open("echo-test", null, []);
      const w = watch(`srvclose-${transport}`);
      const pending = client.call(id, "block", [`srvclose-${transport}`]);
      await w.started.promise;
      const rejected = assert.rejects(pending, isTransportError("Closed"));
      await server.close();
      await rejected;
      const why = await client.closed;
      assert.ok(why instanceof TransportError && why.reason === "Closed");
      await assert.rejects(connect(server.address, { authkey: server.authkey }), isTransportError("Connect"));
    });

    it("serves a client in a child process of the same runtime", async () => {
      await using server = await serve(address());
      await using client = await connect(server.address, { authkey: server.authkey });
      const { id } = await client.open("echo-test", "child", []);
      const out = await runChild(["echo", server.address, hex(server.authkey), String(id)]);
      const got = JSON.parse(out.stdout.trim());
      assert.deepEqual(got.echoed, { from: "child", n: 42 });
      assert.notEqual(got.pid, process.pid);
      assert.equal(out.code, 0);
      assert.equal(await client.call(id, "runs", []), 1);
    });

    it("lets a child process with an idle client exit on its own", async () => {
      const host = new SpyHost();
      await using server = await serve(address(), { host });
      const { id } = host.open("echo-test", undefined, []);
      // a safety net only: the child must exit by itself long before
      const child = startChild(["echo-idle", server.address, hex(server.authkey), String(id)]);
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const out = await child.exited;
      clearTimeout(timer);
      assert.equal(out.code, 0, out.stderr);
      assert.deepEqual(JSON.parse(out.stdout).echoed, { from: "child", n: 42 });
    });

    it("releases the owner of a child process killed mid-call", async () => {
      const host = new SpyHost();
      await using server = await serve(address(), { host });
      const { id } = host.open("echo-test", undefined, []);
      const w = watch(`kill-${transport}`);
      const child = startChild(["block", server.address, hex(server.authkey), String(id), `kill-${transport}`]);
      const ownerId = await w.started.promise;
      child.kill("SIGKILL");
      await host.whenReleased(ownerId);
      assert.ok((await w.aborted.promise) instanceof TransportError);
      await child.exited;
    });
  });
}

describe("socket server", () => {
  it("creates unix sockets 0600 and removes them on close", async () => {
    const address = unixAddress();
    const path = socketAddress(address).kind === "unix" ? (socketAddress(address) as { path: string }).path : "";
    const server = await startServer({ address, kinds: TEST_KINDS });
    assert.equal(server.address, address);
    assert.equal(await fileMode(path), 0o600);
    await server.close();
    assert.equal(await pathKind(path), "missing");
    await server.close(); // idempotent
  });

  it("makes a relative unix path absolute in server.address", async () => {
    const absolute = (socketAddress(unixAddress()) as { path: string }).path;
    await using server = await startServer({ address: `unix:${relative(process.cwd(), absolute)}`, kinds: TEST_KINDS });
    assert.equal(server.address, `unix:${absolute}`);
    assert.equal(await pathKind(absolute), "socket");
  });

  it("replaces a stale socket file but not a live server", async () => {
    const address = unixAddress();
    const path = (socketAddress(address) as { path: string }).path;
    const key = new Uint8Array([1, 2, 3]);
    const child = startChild(["serve", address, hex(key)]);
    await child.line("listening");
    child.kill("SIGKILL");
    await child.exited;
    assert.equal(await pathKind(path), "socket");
    await using server = await startServer({ address, authkey: key, kinds: TEST_KINDS });
    await assert.rejects(startServer({ address, kinds: TEST_KINDS }), isTransportError("Connect"));
    await using client = await connect(server.address, { authkey: key });
    assert.equal(client.isClosed, false);
  });

  it("refuses a non-loopback TCP address unless allowRemote, and bad addresses", async () => {
    await assert.rejects(
      startServer({ address: "tcp://0.0.0.0:0", kinds: TEST_KINDS }),
      isTransportError("Unsupported"),
    );
    await assert.rejects(startServer({ address: "http://127.0.0.1:1", kinds: TEST_KINDS }), isTransportError("BadUrl"));
    await assert.rejects(
      startServer({ address: "tcp://127.0.0.1:70000", kinds: TEST_KINDS }),
      isTransportError("BadUrl"),
    );
    await assert.rejects(connect("unix:", { authkey: "k" }), isTransportError("BadUrl"));
    assert.deepEqual(socketAddress("tcp://[::1]:80"), { kind: "tcp", host: "::1", port: 80 });
    assert.deepEqual(socketAddress("unix:///tmp/x.sock"), { kind: "unix", path: "/tmp/x.sock" });
  });

  it("closes a connection that does not complete the handshake in time", async () => {
    await using server = await serve("tcp://127.0.0.1:0", { handshakeTimeoutMs: 50 });
    const raw = await Raw.connect(server.address);
    assert.ok(await raw.next()); // the challenge, then silence from us
    await raw.ended;
    assert.equal(server.connectionCount, 0);
  });

  it("times out a client whose server never speaks", async () => {
    const silent = await listen({ kind: "tcp", host: "127.0.0.1", port: 0 }, (s) => {
      s.on("error", () => {});
      silentSockets.push(s);
    });
    const port = (silent.address() as { port: number }).port;
    await assert.rejects(
      connect(`tcp://127.0.0.1:${port}`, { authkey: "k", handshakeTimeoutMs: 50 }),
      isTransportError("Connect"),
    );
    for (const s of silentSockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });

  it("fails to connect where nothing listens", async () => {
    await assert.rejects(connect(unixAddress(), { authkey: "k" }), isTransportError("Connect"));
  });

  it("refuses a unix path over the platform limit before binding, and leaves nothing behind", async () => {
    const prefix = `/tmp/procshare-socket-test-${process.pid}-long-`;
    const pathOf = (bytes: number) => `${prefix}${"x".repeat(bytes - prefix.length - 5)}.sock`;
    const long = pathOf(UNIX_PATH_MAX_BYTES + 1);
    const tooLong = (e: unknown) => {
      isTransportError("BadUrl")(e);
      assert.match(
        (e as Error).message,
        new RegExp(`${UNIX_PATH_MAX_BYTES + 1} bytes, over the limit of ${UNIX_PATH_MAX_BYTES}`),
      );
      return true;
    };
    await assert.rejects(startServer({ address: `unix:${long}`, kinds: TEST_KINDS }), tooLong);
    await assert.rejects(connect(`unix:${long}`, { authkey: "k" }), tooLong);
    // Node binds a path cut at the limit; nothing of the kind may be created
    for (let n = UNIX_PATH_MAX_BYTES - 1; n <= UNIX_PATH_MAX_BYTES + 1; n++) {
      assert.equal(await pathKind(long.slice(0, n)), "missing");
    }
    // bytes of UTF-8, not characters
    // (2 bytes a character: one over the limit in bytes whatever the prefix's length, within it in characters)
    const wide = `${prefix}${"é".repeat(Math.floor((UNIX_PATH_MAX_BYTES - prefix.length) / 2) + 1)}`;
    assert.ok(wide.length <= UNIX_PATH_MAX_BYTES && Buffer.byteLength(wide) > UNIX_PATH_MAX_BYTES);
    await assert.rejects(startServer({ address: `unix:${wide}`, kinds: TEST_KINDS }), isTransportError("BadUrl"));
    // a path right at the limit works
    const longest = pathOf(UNIX_PATH_MAX_BYTES);
    const server = await startServer({ address: `unix:${longest}`, kinds: TEST_KINDS });
    await using client = await connect(server.address, { authkey: server.authkey });
    assert.equal(client.isClosed, false);
    await server.close();
    assert.equal(await pathKind(longest), "missing");
  });

  it("names a socket directory that does not exist, on start and on connect", async () => {
    const address = `unix:/tmp/procshare-socket-test-${process.pid}-no-such-dir/sub/m.sock`;
    const names = (e: unknown) => {
      isTransportError("Connect")(e);
      const m = (e as Error).message;
      assert.match(m, /the directory \/tmp\/procshare-socket-test-\d+-no-such-dir\/sub does not exist/);
      assert.doesNotMatch(m, /EACCES/);
      return true;
    };
    await assert.rejects(startServer({ address, kinds: TEST_KINDS }), names);
    await assert.rejects(connect(address, { authkey: "k" }), names);
  });
});
const silentSockets: NetSocket[] = [];

describe("clientFor", () => {
  it("shares one connection per address and authkey, and reconnects after close", async () => {
    await using server = await serve("tcp://127.0.0.1:0");
    const a = await clientFor(server.address, server.authkey);
    const b = await clientFor(server.address, new Uint8Array(server.authkey));
    assert.equal(a, b);
    await assert.rejects(clientFor(server.address, "wrong"), isTransportError("Auth"));
    await a.close();
    const c: SocketClient = await clientFor(server.address, server.authkey);
    assert.notEqual(c, a);
    const { id } = await c.open("echo-test", null, []);
    assert.equal(await c.call(id, "echo", ["shared"]), "shared");
    await c.close();
  });
});

// ---------------------------------------------------------------------------
// Child processes of the same runtime

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const FIXTURE = fileURLToPath(new URL("./fixtures/socket_child.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function runtimeArgs(): string[] {
  if ("Deno" in globalThis) return ["run", "-A", FIXTURE];
  if ("Bun" in globalThis) return [FIXTURE];
  return ["--import", "tsx", FIXTURE];
}

interface Child {
  kill(signal: NodeJS.Signals): void;
  /** Resolves when the child has printed `text` as a line. */
  line(text: string): Promise<void>;
  readonly exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function startChild(args: string[]): Child {
  const proc = spawn(process.execPath, [...runtimeArgs(), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const lineWaiters: Array<{ text: string; done: Deferred }> = [];
  proc.stdout!.on("data", (d: Uint8Array) => {
    stdout += new TextDecoder().decode(d);
    for (const w of lineWaiters) if (stdout.split("\n").includes(w.text)) w.done.resolve();
  });
  proc.stderr!.on("data", (d: Uint8Array) => (stderr += new TextDecoder().decode(d)));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    proc.on("close", (code) => resolve({ code, stdout, stderr }))
  );
  return {
    kill: (signal) => proc.kill(signal),
    line: (text) => {
      const done = deferred();
      lineWaiters.push({ text, done });
      if (stdout.split("\n").includes(text)) done.resolve();
      return Promise.race([
        done.promise,
        exited.then((r) => {
          throw new Error(`Child exited before printing ${text}: ${r.stderr}`);
        }),
      ]);
    },
    exited,
  };
}

async function runChild(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await startChild(args).exited;
  if (r.code !== 0) throw new Error(`Child failed with code ${r.code}: ${r.stderr}`);
  return r;
}
