import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Manager, spawn, TransportError } from "../mod.ts";
import { UNIX_PATH_MAX_BYTES } from "../transports/socket/address.ts";

const dir = mkdtempSync(join(tmpdir(), "procshare-manager-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const sock = () => `unix:${join(dir, `s${n++}.sock`)}`;

describe("Manager", () => {
  test("the default transport is the shared buffer, without address or authkey", async () => {
    await using m = await Manager.start();
    assert.equal(m.transport, "shared-buffer:");
    assert.equal(m.address, undefined);
    assert.equal(m.authkey, undefined);
  });

  test("a unix-socket manager exposes its address and authkey; the socket file is 0600", async () => {
    const address = sock();
    await using m = await Manager.start({ transport: address });
    assert.equal(m.address, address);
    assert.ok(m.authkey instanceof Uint8Array && m.authkey.length >= 16);
    assert.equal(statSync(address.slice(5)).mode & 0o777, 0o600);
  });

  test("another client joins by address and authkey and opens structures by name", async () => {
    await using m = await Manager.start({ transport: "tcp://127.0.0.1:0" });
    assert.match(m.address!, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    const d = await m.dict<string, number>({ a: 1 }, { name: "scores" });
    await using other = await Manager.connect(m.address!, { authkey: m.authkey! });
    const same = await other.dict<string, number>(undefined, { name: "scores" });
    await same.set("b", 2);
    assert.deepEqual(await d.entries(), [["a", 1], ["b", 2]]);
  });

  test("a wrong authkey is refused before any operation", async () => {
    await using m = await Manager.start({ transport: sock(), authkey: "right key" });
    const d = await m.dict<string, number>(undefined, { name: "guarded" });
    await assert.rejects(
      () => Manager.connect(m.address!, { authkey: "wrong key" }),
      (e) => e instanceof TransportError && e.reason === "Auth",
    );
    assert.equal(await d.size(), 0);
  });

  test("an unknown transport URL is a typed error", async () => {
    await assert.rejects(
      () => Manager.start({ transport: "carrier-pigeon://x" }),
      (e) => e instanceof TransportError && e.reason === "BadUrl",
    );
  });

  test("a child process (not a thread) joins the socket manager and shares a dict and a lock", async () => {
    await using m = await Manager.start({ transport: sock() });
    const d = await m.dict<string, number>(undefined, { name: "counts" });
    await m.lock({ name: "guard" });
    const child = spawn(new URL("./fixtures/child_process_worker.ts", import.meta.url), {
      as: "process",
      args: [m.address, m.authkey, 50],
    });
    assert.equal(await child.join(), 50);
    assert.equal(await d.get("child"), 50);
    assert.equal(child.exitCode, 0);
  });

  test("a socket structure passed to a child process arrives attached", async () => {
    await using m = await Manager.start({ transport: sock() });
    const d = await m.dict<string, number>({ parent: 1 });
    const child = spawn(new URL("./fixtures/handle_process_worker.ts", import.meta.url), { as: "process", args: [d] });
    assert.deepEqual(await child.join(), ["parent", "from-child"]);
    assert.equal(typeof (await d.get("from-child")), "number");
  });

  test("structures of a shut-down manager fail with TransportError", async () => {
    const m = await Manager.start({ transport: sock() });
    await m.shutdown();
    await assert.rejects(() => m.dict(), (e) => e instanceof TransportError && e.reason === "Closed");
  });

  test("another client joins with the authkey as hex text", async () => {
    await using m = await Manager.start({ transport: "tcp://127.0.0.1:0" });
    const d = await m.dict<string, number>({ a: 1 }, { name: "hexed" });
    const hex = m.authkey!.toHex();
    assert.equal(hex, Array.from(m.authkey!, (b) => b.toString(16).padStart(2, "0")).join(""));
    for (const authkey of [hex, hex.toUpperCase(), `hex:${hex}`]) {
      await using other = await Manager.connect(m.address!, { authkey });
      assert.equal(await (await other.dict<string, number>(undefined, { name: "hexed" })).get("a"), 1);
    }
    assert.equal(String(m.authkey), "[redacted]");
    // a key of another length is handed on as "hex:" and its hex
    await using short = await Manager.start({ transport: sock(), authkey: new Uint8Array([1, 2, 3, 250]) });
    assert.equal(short.authkey!.toHex(), "010203fa");
    await using joined = await Manager.connect(short.address!, { authkey: `hex:${short.authkey!.toHex()}` });
    assert.equal(joined.address, short.address);
    await assert.rejects(
      () => Manager.connect(short.address!, { authkey: "010203fa" }), // a passphrase, not that key
      (e) => e instanceof TransportError && e.reason === "Auth",
    );
    assert.equal(await d.size(), 1);
  });

  test("maxFrameBytes: a call or an answer over the limit fails clearly, and the connection goes on", async () => {
    const maxFrameBytes = 1 << 20;
    await using m = await Manager.start({ transport: sock(), maxFrameBytes });
    await using other = await Manager.connect(m.address!, { authkey: m.authkey!, maxFrameBytes });
    for (const manager of [m, other]) {
      const d = await manager.dict<string, Uint8Array>();
      const tooLarge = (e: unknown) =>
        e instanceof TransportError && e.reason === "FrameTooLarge" &&
        e.message.includes(`maxFrameBytes (${maxFrameBytes}; raise it with the maxFrameBytes option of Manager.start`);
      await assert.rejects(() => d.set("big", new Uint8Array(maxFrameBytes + 1)), tooLarge);
      const part = 600_000; // one fits, two do not
      await d.set("a", new Uint8Array(part));
      await d.set("b", new Uint8Array(part));
      await assert.rejects(() => d.values(), tooLarge); // the answer is over the limit
      assert.equal(await d.size(), 2);
      assert.equal((await d.get("a"))!.length, part);
    }
    await assert.rejects(() => Manager.start({ transport: sock(), maxFrameBytes: 0 }), RangeError);
  });

  test("maxFrameBytes raises the 64 MiB default, for the manager's structures wherever they are attached", async () => {
    const size = 64 * 1024 * 1024 + 1;
    await using m = await Manager.start({ transport: sock(), maxFrameBytes: size + 1024 });
    const d = await m.dict<string, Uint8Array>();
    await d.set("big", new Uint8Array(size).fill(7)); // a call over 64 MiB
    // a child process attaching the dict's handle gets the same limit, for an answer over 64 MiB
    const child = spawn(new URL("./transports/fixtures/big_value_worker.ts", import.meta.url), {
      as: "process",
      args: [d],
    });
    assert.deepEqual(await child.join(), [size, 7]);
  });

  test("a socket directory that does not exist is named, and a path over the platform limit is refused", async () => {
    const missing = `unix:${join(dir, "no-such-dir", "m.sock")}`;
    const names = (e: unknown) =>
      e instanceof TransportError && e.reason === "Connect" &&
      e.message.includes(`the directory ${join(dir, "no-such-dir")} does not exist`);
    await assert.rejects(() => Manager.start({ transport: missing }), names);
    await assert.rejects(() => Manager.connect(missing, { authkey: "k" }), names);
    const long = `unix:${join(dir, "x".repeat(UNIX_PATH_MAX_BYTES))}.sock`;
    const refused = (e: unknown) =>
      e instanceof TransportError && e.reason === "BadUrl" &&
      e.message.includes(`limit of ${UNIX_PATH_MAX_BYTES} bytes`);
    await assert.rejects(() => Manager.start({ transport: long }), refused);
    await assert.rejects(() => Manager.connect(long, { authkey: "k" }), refused);
  });
});
