/**
 * The message layer (`transports/_wire.ts`) and the frame writer
 * (`transports/_frame.ts`): one parser per direction, typed errors for every
 * malformed message, and frames coalesced per tick.
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LockError, TransportError } from "../../errors.ts";
import { encode } from "../../transports/_codec.ts";
import { COALESCE_BYTES, FrameDecoder, FrameWriter } from "../../transports/_frame.ts";
import {
  encodeReply,
  encodeRequest,
  fromWireError,
  parseReply,
  parseRequest,
  toWireError,
} from "../../transports/_wire.ts";

describe("parseRequest", () => {
  it("reads every verb as a typed request", () => {
    assert.deepEqual(parseRequest(encodeRequest([1, "open", "dict", "d", [1]])), {
      ok: true,
      request: [1, "open", "dict", "d", [1]],
    });
    assert.deepEqual(parseRequest(encodeRequest([2, "open", "dict", null, []])), {
      ok: true,
      request: [2, "open", "dict", null, []],
    });
    assert.deepEqual(parseRequest(encodeRequest([3, "call", 7, "get", ["a"]])), {
      ok: true,
      request: [3, "call", 7, "get", ["a"]],
    });
    assert.deepEqual(parseRequest(encodeRequest([4, "cancel"])), { ok: true, request: [4, "cancel"] });
  });

  it("answers a malformed request that has a call id, and fails the connection on one that has none", () => {
    for (
      const msg of [
        [5, "call", 1, 2, []],
        [5, "call", "1", "get", []],
        [5, "call", 1, "get", "args"],
        [5, "open", 1, null, []],
        [5, "open", "dict", 3, []],
        [5, "open", "dict", null, {}],
        [5, "dance"],
        [5],
      ]
    ) {
      const r = parseRequest(encode(msg));
      assert.equal(r.ok, false, JSON.stringify(msg));
      if (r.ok) continue;
      assert.equal(r.callId, 5);
      assert.ok(r.error instanceof TransportError && r.error.reason === "Protocol");
    }
    for (const payload of [new Uint8Array([0xff, 0xff, 0x1c]), encode("hi"), encode([-1, "cancel"]), encode([1.5])]) {
      const r = parseRequest(payload);
      assert.equal(r.ok, false);
      if (r.ok) continue;
      assert.equal(r.callId, null);
      assert.ok(r.error instanceof TransportError && r.error.reason === "Protocol");
    }
  });
});

describe("parseReply", () => {
  it("reads success, failure and connection failure", () => {
    assert.deepEqual(parseReply(encodeReply([1, 0, { a: 1 }])), { ok: true, reply: [1, 0, { a: 1 }] });
    const failed = parseReply(encodeReply([2, 1, toWireError(new LockError("Timeout", "Cannot acquire lock"))]));
    assert.deepEqual(failed, {
      ok: true,
      reply: [2, 1, { tag: "LockError", reason: "Timeout", message: "Cannot acquire lock" }],
    });
    const fatal = parseReply(encodeReply([null, 1, toWireError(new TransportError("Protocol", "bad"))]));
    assert.deepEqual(fatal, {
      ok: true,
      reply: [null, 1, { tag: "TransportError", reason: "Protocol", message: "bad" }],
    });
    // a lenient error body: whatever the server sent arrives as some error
    assert.deepEqual(parseReply(encode([3, 1, "boom"])), {
      ok: true,
      reply: [3, 1, { tag: "Error", reason: "", message: "boom" }],
    });
  });

  it("refuses what is not a reply", () => {
    for (
      const payload of [
        new Uint8Array([0xff, 0xff, 0x1c]),
        encode({ callId: 1 }),
        encode(["1", 0, 1]),
        encode([1, 2, 1]),
        encode([null, 0, 1]),
      ]
    ) {
      const r = parseReply(payload);
      assert.equal(r.ok, false);
      if (r.ok) continue;
      assert.ok(r.error instanceof TransportError && r.error.reason === "Protocol");
    }
  });
});

describe("wire errors", () => {
  it("revive tagged and standard errors as their class", () => {
    const lock = fromWireError(toWireError(new LockError("NotOwner", "Cannot release lock")));
    assert.ok(lock instanceof LockError);
    assert.equal(lock.reason, "NotOwner");
    assert.equal(lock.message, "Cannot release lock");
    assert.ok(fromWireError(toWireError(new RangeError("r"))) instanceof RangeError);
    assert.deepEqual(toWireError("plain"), { tag: "Error", reason: "", message: "plain" });
  });
});

describe("FrameWriter", () => {
  it("writes the frames of one tick as one write, and big bursts frame by frame", async () => {
    const writes: Uint8Array[] = [];
    const writer = new FrameWriter({ write: (b: Uint8Array) => writes.push(b) });
    writer.send(new Uint8Array([1]));
    writer.send(new Uint8Array([2, 3]));
    assert.equal(writes.length, 0);
    await Promise.resolve();
    assert.equal(writes.length, 1);
    const got: number[][] = [];
    const decoder = new FrameDecoder();
    decoder.push(writes[0], (p) => {
      got.push([...p]);
    });
    assert.deepEqual(got, [[1], [2, 3]]);

    writes.length = 0;
    writer.send(new Uint8Array(COALESCE_BYTES));
    writer.send(new Uint8Array([4]));
    writer.flush();
    assert.equal(writes.length, 4); // header, payload, header, payload
  });

  it("drops what is queued once closed", async () => {
    const writes: Uint8Array[] = [];
    const writer = new FrameWriter({ write: (b: Uint8Array) => writes.push(b) });
    writer.send(new Uint8Array([1]));
    writer.close();
    writer.send(new Uint8Array([2]));
    await Promise.resolve();
    writer.flush();
    assert.equal(writes.length, 0);
  });
});
