import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Manager, spawn, TransportError } from "../mod.ts";

const dir = mkdtempSync(join(tmpdir(), "procshare-manager-"));
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
});
