/**
 * One authenticated client sending hostile frames cannot freeze the server or
 * blow up its memory: value-sharing tags, huge bignums, millions of empty
 * maps, deep nesting, huge declared lengths, truncations and 2,000 random
 * mutations of valid frames (more under `npm run soak`) each get a `CodecError` (or, without a readable
 * call id, a closed connection) within a bound, while another client's Dict
 * calls keep being answered.
 * @module
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { CodecError } from "../../errors.ts";
import { ClientHandshake } from "../../transports/_auth.ts";
import { decode, encode } from "../../transports/_codec.ts";
import { frame, FrameDecoder } from "../../transports/_frame.ts";
import { concat, headOf, setRequest, valueSharingBomb } from "../fixtures/hostile_frames.ts";
import { KINDS } from "../../kinds.ts";
import { connectTo, type NetSocket } from "../../transports/_runtime/net.ts";
import { socketAddress } from "../../transports/socket/address.ts";
import { type ManagerServer, startServer } from "../../transports/socket/server.ts";
import { connect, type SocketClient } from "../../transports/socket/client.ts";

/** Mutated frames the fuzzer sends: 2,000 in `npm test`, more under `npm run soak` (PROCSHARE_SOAK_FUZZ). */
const MUTATIONS = Number(process.env.PROCSHARE_SOAK_FUZZ ?? 2000);
/** The fuzzer's seed: fixed in `npm test`; `npm run soak` draws one and prints it, to replay a failure. */
const SEED = Number(process.env.PROCSHARE_SOAK_SEED ?? 0x2545f491) | 0 || 1;

/** Every hostile frame is answered (or its connection closed) within this long. */
const BOUND_MS = 2000;

/** Rejects after `ms` unless `p` settles first; the timer never keeps the process alive. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** A raw authenticated socket, to send frames the real client never would. */
class Raw {
  readonly socket: NetSocket;
  readonly #frames: Uint8Array[] = [];
  #wake: (() => void) | undefined;
  #closed = false;

  private constructor(socket: NetSocket) {
    this.socket = socket;
    const decoder = new FrameDecoder(1 << 30);
    socket.on("data", (chunk: Uint8Array) => {
      decoder.push(chunk, (p) => {
        this.#frames.push(p);
      });
      this.#wake?.();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.#closed = true;
      this.#wake?.();
    });
  }

  static async authenticated(address: string, authkey: Uint8Array): Promise<Raw> {
    const raw = new Raw(await connectTo(socketAddress(address)));
    const hs = new ClientHandshake(authkey);
    raw.send(hs.answer((await raw.next())!));
    hs.finish((await raw.next())!);
    return raw;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The next frame, or undefined once the peer has closed. */
  async next(): Promise<Uint8Array | undefined> {
    while (this.#frames.length === 0) {
      if (this.#closed) return undefined;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    return this.#frames.shift();
  }

  /** The next reply, decoded (the server is trusted here), or undefined once closed. */
  async reply(): Promise<unknown[] | undefined> {
    const f = await this.next();
    return f === undefined ? undefined : decode(f) as unknown[];
  }

  send(payload: Uint8Array): void {
    this.socket.write(frame(payload));
  }

  close(): void {
    this.socket.destroy();
  }
}

const HOSTILE: [string, Uint8Array][] = [
  ["tags 28/29 (value sharing) nested 40 deep", valueSharingBomb(40)],
  ["a 256 KiB bignum", concat([0xc2], headOf(2, 256 * 1024), new Uint8Array(256 * 1024).fill(0xff))],
  ["4 MiB of empty maps", concat(headOf(4, 4 << 20), new Uint8Array(4 << 20).fill(0xa0))],
  ["100,000 nested arrays", concat(new Uint8Array(100_000).fill(0x81), [0x00])],
  ["an array declaring 2^64 items", new Uint8Array(headOf(4, 0, true))],
  ["a map declaring 2^64 entries", new Uint8Array(headOf(5, 0, true))],
  ["a byte string declaring 2^64 bytes", new Uint8Array(headOf(2, 0, true))],
  ["a text string declaring 4 GiB", new Uint8Array(headOf(3, 0xffff_ffff))],
  ["an array declaring 1M items in 3 bytes", new Uint8Array([...headOf(4, 1 << 20), 1, 2, 3])],
  ["an indefinite-length array", new Uint8Array([0x9f, 0x01, 0xff])],
  ["a self-describe tag", new Uint8Array([0xd9, 0xd9, 0xf7, 0x01])],
  ["a packed-values tag", new Uint8Array([0xd8, 51, 0x84, 0x81, 0x01, 0x80, 0x80, 0xd8, 6, 0x00])],
  ["a record tag", new Uint8Array([0xd9, 0xdf, 0xff, 0x80])],
  ["a string-date tag", concat([0xc0], encode("2020-01-01"))],
  ["tag 27 naming another global", concat([0xd8, 27, 0x82], encode("constructor"), encode("x"))],
  ["a Set tag around a number", new Uint8Array([0xd9, 0x01, 0x02, 0x01])],
  ["a misaligned Float64Array", new Uint8Array([0xd8, 86, 0x43, 1, 2, 3])],
  ["a simple value", new Uint8Array([0xf8, 0x20])],
];

let server: ManagerServer;
let normal: SocketClient;
let dictId: number;
let normalCalls = 0;

/** A normal client's set then get on the same dict, answered within the bound. */
async function normalWorks(): Promise<void> {
  const v = { n: ++normalCalls, s: "ok" };
  await within(normal.call(dictId, "set", ["normal", v]), BOUND_MS, "normal set");
  assert.deepEqual(await within(normal.call(dictId, "get", ["normal"]), BOUND_MS, "normal get"), v);
}

describe("hostile frames from an authenticated client", () => {
  before(async () => {
    server = await startServer({ address: `unix:/tmp/procshare-hostile-${process.pid}.sock`, kinds: KINDS });
    normal = await connect(server.address, { authkey: server.authkey });
    dictId = (await normal.open("dict", "hostile", [])).id;
  });
  after(async () => {
    await normal?.close();
    await server?.close();
  });

  for (const [name, value] of HOSTILE) {
    it(`${name}: CodecError for that call only, the connection and other clients keep being served`, async () => {
      const raw = await Raw.authenticated(server.address, server.authkey);
      try {
        const rss = process.memoryUsage().rss;
        const started = performance.now();
        raw.send(setRequest(7, dictId, value));
        const [reply] = await Promise.all([within(raw.reply(), BOUND_MS, name), normalWorks()]);
        assert.ok(performance.now() - started < BOUND_MS);
        assert.ok(reply !== undefined, "the connection stays open");
        assert.equal(reply[0], 7);
        assert.equal(reply[1], 1);
        assert.equal((reply[2] as { tag: string }).tag, "CodecError");
        assert.equal((reply[2] as { reason: string }).reason, "Malformed");
        // bounded memory: nothing was decoded (the frame itself is at most 4 MiB, held a few times)
        assert.ok(process.memoryUsage().rss - rss < 128 << 20, "RSS grew by less than 128 MiB");
        // the same connection still works
        raw.send(encode([8, "call", dictId, "get", ["normal"]]));
        const ok = await within(raw.reply(), BOUND_MS, "get after refusal");
        assert.deepEqual(ok?.slice(0, 2), [8, 0]);
        await normalWorks();
      } finally {
        raw.close();
      }
    });
  }

  it("a hostile frame without a readable call id closes that connection only", async () => {
    for (const bad of [valueSharingBomb(40), new Uint8Array([0x9f, 0xff]), new Uint8Array([0xd8, 28, 0x81, 0x00])]) {
      const raw = await Raw.authenticated(server.address, server.authkey);
      try {
        raw.send(bad);
        const fatal = await within(raw.reply(), BOUND_MS, "fatal reply");
        if (fatal !== undefined) assert.deepEqual(fatal.slice(0, 2), [null, 1]);
        assert.equal(await within(raw.next(), BOUND_MS, "close"), undefined);
        await normalWorks();
      } finally {
        raw.close();
      }
    }
  });

  it("every truncation of a valid request is refused within the bound", async () => {
    const whole = encode([9, "call", dictId, "set", ["k", { a: [1, 2n ** 70n, new Date(0)], b: new Set(["x"]) }]]);
    for (let n = 0; n < whole.length; n++) {
      const raw = await Raw.authenticated(server.address, server.authkey);
      try {
        raw.send(whole.subarray(0, n));
        const reply = await within(raw.reply(), BOUND_MS, `truncated at ${n}`);
        if (reply !== undefined) assert.equal(reply[1], 1, `truncated at ${n} is refused`);
      } finally {
        raw.close();
      }
    }
    await normalWorks();
  });

  it("legitimate values of every data-model type still pass, including a 1 KiB bigint", async () => {
    const values: unknown[] = [
      { a: [1, -2, 1.5, "s", null, undefined, true, false] },
      new Map<unknown, unknown>([[{ k: 1 }, [1]], ["x", new Set([1, 2])]]),
      new Date(1700000000123),
      /ab+c/gi,
      2n ** 8191n,
      -(2n ** 8192n),
      new Uint8Array([1, 2]),
      new Float64Array([1.5]),
      new BigInt64Array([-1n]),
      Array.from({ length: 50_000 }, (_, i) => [i, i + 1]), // pairs: dense but real
      "é".repeat(10_000),
      JSON.parse("[".repeat(63) + "]".repeat(63)), // as deep as a request lets encode go
    ];
    for (const v of values) {
      await within(normal.call(dictId, "set", ["legit", v]), BOUND_MS, "legit set");
      assert.deepEqual(await within(normal.call(dictId, "get", ["legit"]), BOUND_MS, "legit get"), v);
    }
  });

  it("encode refuses a bigint the wire would refuse", () => {
    assert.throws(() => encode(2n ** 8192n), (e) => e instanceof CodecError && e.reason === "Unsupported");
    assert.throws(() => encode([-(2n ** 8192n) - 1n]), (e) => e instanceof CodecError && e.reason === "Unsupported");
  });

  it(`${MUTATIONS} random mutations of valid frames never crash or hang the server (seed ${SEED})`, async () => {
    let seed = SEED;
    const rand = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const INTERESTING = [
      0x00,
      0x18,
      0x1b,
      0x1f,
      0x5f,
      0x7f,
      0x9f,
      0xbf,
      0xd8,
      0xd9,
      0xdc,
      0xdd,
      0xc2,
      0xff,
      0xfb,
      0xf8,
    ];
    const seeds = [
      encode([1, "call", dictId, "set", ["k", { a: [1, 2, 3], b: "text", c: new Map([[1, 2]]) }]]),
      encode([2, "call", dictId, "get", ["k"]]),
      encode([3, "call", dictId, "set", ["k", [new Set([1]), new Date(0), 2n ** 100n, new Uint8Array(4)]]]),
      encode([4, "open", "dict", "fuzz", []]),
    ];
    let raw = await Raw.authenticated(server.address, server.authkey);
    try {
      for (let i = 0; i < MUTATIONS; i++) {
        const bytes = seeds[rand(seeds.length)].slice();
        let b: Uint8Array = bytes;
        for (let m = 1 + rand(3); m > 0; m--) {
          const at = rand(b.length);
          switch (rand(5)) {
            case 0:
              b[at] ^= 1 << rand(8);
              break;
            case 1:
              b[at] = INTERESTING[rand(INTERESTING.length)];
              break;
            case 2:
              b = concat(b.subarray(0, at), [rand(256)], b.subarray(at));
              break;
            case 3:
              b = concat(b.subarray(0, at), b.subarray(at + 1));
              break;
            default:
              b = b.subarray(0, at);
          }
        }
        raw.send(b);
        // a sentinel after each: its answer proves the server read (and survived) the mutated frame
        const sentinel = 1_000_000 + i;
        raw.send(encode([sentinel, "call", dictId, "get", ["normal"]]));
        for (;;) {
          const reply = await within(raw.reply(), BOUND_MS, `mutation ${i}`);
          if (reply === undefined) { // the mutated frame had no readable call id: only this connection closed
            raw.close();
            raw = await Raw.authenticated(server.address, server.authkey);
            break;
          }
          if (reply[0] === sentinel) break;
        }
        if (i % 250 === 0) await normalWorks();
      }
    } finally {
      raw.close();
    }
    await normalWorks();
  });
});
