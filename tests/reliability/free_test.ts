/**
 * Structures are freed when nobody holds them (issue 8, item 2). Before the
 * fix the manager kept every structure it ever made: ~31,000 temporary
 * `await m.dict()` aborted the process (each is a growable SharedArrayBuffer;
 * the process ran out of heap and of memory maps), and a socket server kept
 * whatever a client opened after the client was gone.
 *
 * Now an anonymous structure on the shared buffer is held only by its
 * clients (the garbage collector frees it); on a manager server each
 * connection counts its references — open, attach and `toWire` take one,
 * `close()` (or the collection of the client) gives it back, a connection
 * that ends gives back all of its own — and an anonymous structure at zero
 * is dropped. Named ones stay until `Manager.delete(name)` or shutdown.
 *
 * The garbage-collection path (a client dropped without `close()`) is
 * exercised at a million cycles by `scripts/soak/free.ts`; here the explicit
 * paths, which are deterministic, and the shared buffer's bounded memory.
 * @module
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { attach, CapacityError, type Dict, Manager, TransportError } from "../../mod.ts";
import { KINDS } from "../../kinds.ts";
import { spawn } from "../../process/mod.ts";
import { Dict as DictClass } from "../../structures/dict.ts";
import type nested from "../fixtures/nested_structures.ts";
import { EngineHost, HOST_ID } from "../../transports/_host.ts";
import { SharedBufferTransport } from "../../transports/shared_buffer.ts";
import { clientFor, connect } from "../../transports/socket/client.ts";
import { type ManagerServer, startServer } from "../../transports/socket/server.ts";

const SOAK = process.env.PROCSHARE_SOAK === "1";
/** Past the ~31,000 at which the manager used to abort the process. */
const SHARED_BUFFER_CYCLES = SOAK ? 200_000 : 36_000;
const SOCKET_CYCLES = SOAK ? 50_000 : 2_000;

const dir = mkdtempSync(join(tmpdir(), "procshare-free-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const fixture = new URL("../fixtures/nested_structures.ts", import.meta.url);

const isClosed = (e: unknown): boolean => e instanceof TransportError && e.reason === "Closed";
const isNotFound = (e: unknown): boolean => e instanceof TransportError && e.reason === "NotFound";

/** A manager server in this process (its host is visible) and a manager connected to it. */
async function serverAndManager(): Promise<{ server: ManagerServer; m: Manager; settle(): Promise<void> }> {
  const server = await startServer({ address: `unix:${join(dir, `m${++seq}.sock`)}`, kinds: KINDS });
  const m = await Manager.connect(server.address, { authkey: server.authkey });
  // the thread's connection (where attached clients call and release), then the manager's own (which
  // gives back its open's reference once the client's is taken): a round trip on each, in that order,
  // and every release sent before is processed
  const settle = async () => {
    const attached = await clientFor(server.address, server.authkey);
    await attached.call(HOST_ID, "release", [[]]);
    await m.delete("free-test-no-such-name");
  };
  return { server, m, settle };
}

/** Resolves once `ok()` holds; fails after `ms`. For what another connection's end does on the server. */
async function until(ok: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("structures are freed when nobody holds them: shared buffer", () => {
  it("keeps no anonymous structure in the manager, only named ones until delete", async () => {
    const t = new SharedBufferTransport({ kinds: KINDS });
    for (let i = 0; i < 1000; i++) {
      const d = await attach<Dict<string, number>>(await t.open("dict", undefined, [undefined, undefined]));
      await d.set("k", i);
    }
    assert.equal(t.size, 0, "anonymous dicts are not kept");
    await t.open("list", "kept", [undefined, undefined]);
    assert.equal(t.size, 1);
    assert.equal(await t.delete("kept"), true);
    assert.equal(await t.delete("kept"), false);
    assert.equal(t.size, 0);
    await t.close();
  });

  it(`runs ${SHARED_BUFFER_CYCLES} create-use-drop cycles of m.dict() in bounded memory`, async () => {
    await using m = await Manager.start();
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < SHARED_BUFFER_CYCLES; i++) {
      const d = await m.dict<string, number>();
      d.setSync("k", i);
      if (d.getSync("k") !== i) assert.fail(`cycle ${i}: read back ${d.getSync("k")}`);
    }
    const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
    assert.ok(grown < 512, `RSS grew by ${grown.toFixed(0)} MiB over ${SHARED_BUFFER_CYCLES} cycles`);
  });

  it("close() is idempotent, fails every later call with Closed, and leaves other clients alone", async () => {
    await using m = await Manager.start();
    const d = await m.dict<string, number>({ a: 1 });
    const other = await attach<Dict<string, number>>(d.handle);
    d.close();
    d.close();
    await assert.rejects(d.get("a"), isClosed);
    await assert.rejects(d.set("a", 2), isClosed);
    assert.throws(() => d.getSync("a"), isClosed);
    await assert.rejects(d.compute("a", (v) => (v ?? 0) + 1), isClosed); // a method that reads the engine itself
    assert.equal(await other.get("a"), 1);
    {
      using scoped = await attach<Dict<string, number>>(d.handle);
      await scoped.set("b", 2);
      await using later = await attach<Dict<string, number>>(d.handle);
      assert.equal(await later.get("b"), 2);
    }
    assert.equal(await other.get("b"), 2);
  });

  it("Manager.delete forgets a name: a new open creates a new structure, holders keep the old one", async () => {
    await using m = await Manager.start();
    const a = await m.dict<string, number>({ n: 1 }, { name: "state" });
    assert.equal(await m.delete("state"), true);
    assert.equal(await m.delete("state"), false);
    const b = await m.dict<string, number>(undefined, { name: "state" });
    assert.equal(await a.get("n"), 1);
    assert.equal(await b.get("n"), undefined);
    await assert.rejects(m.delete(""), TypeError);
  });
});

describe("structures are freed when nobody holds them: socket server", () => {
  it(`frees an anonymous structure when its client closes (${SOCKET_CYCLES} cycles), not a named one`, async () => {
    const { server, m, settle } = await serverAndManager();
    await using _server = server;
    await using _m = m;
    const base = server.host.size;
    for (let i = 0; i < SOCKET_CYCLES; i++) {
      const d = await m.dict<string, number>();
      await d.set("k", i);
      d.close();
    }
    await settle();
    assert.equal(server.host.size, base, "every closed anonymous dict was freed");

    const named = await m.dict<string, number>({ n: 1 }, { name: "kept" });
    const anon = await m.queue<number>();
    await settle();
    assert.equal(server.host.size, base + 2);
    named.close();
    anon.close();
    await assert.rejects(named.get("n"), isClosed);
    await settle();
    assert.equal(server.host.size, base + 1, "the named dict stays");
    const again = await m.dict<string, number>(undefined, { name: "kept" });
    assert.equal(await again.get("n"), 1);

    // delete: the name goes now, the structure when its last holder lets go
    assert.equal(await m.delete("kept"), true);
    assert.equal(await again.get("n"), 1, "a holder keeps working after delete");
    await settle();
    assert.equal(server.host.size, base + 1);
    again.close();
    await settle();
    assert.equal(server.host.size, base);
    assert.equal(await m.delete("kept"), false);
  });

  it("frees what a connection held when it ends, but not what another connection still holds", async () => {
    const { server, m } = await serverAndManager();
    await using _server = server;
    await using _m = m;
    const base = server.host.size;
    const c1 = await connect(server.address, { authkey: server.authkey });
    const c2 = await connect(server.address, { authkey: server.authkey });
    const ids: number[] = [];
    for (let i = 0; i < 500; i++) ids.push((await c1.open("dict", null, [undefined, undefined])).id);
    await c1.open("lock", "named-by-c1", []);
    await c2.retain(ids[0]); // c2 holds one of them too
    assert.equal(server.host.size, base + 501);
    await c1.close();
    await until(() => server.host.size === base + 2, 5000, "freeing c1's anonymous structures");
    await c2.call(ids[0], "set", ["still", 1]);
    assert.equal(await c2.call(ids[0], "get", ["still"]), 1);
    c2.release(ids[0]);
    await c2.call(HOST_ID, "release", [[]]); // a round trip: the release is processed
    assert.equal(server.host.size, base + 1, "only the named lock is left");
    await assert.rejects(c2.call(ids[0], "get", ["still"]), isNotFound);
    await assert.rejects(c2.retain(ids[1]), isNotFound);
    await c2.close();
  });

  it("refuses an anonymous open past the host's bound with CapacityError, and takes it again after a close", async () => {
    const host = new EngineHost(KINDS, { maxAnonymous: 8 });
    await using server = await startServer({ address: `unix:${join(dir, `m${++seq}.sock`)}`, host });
    await using c = await connect(server.address, { authkey: server.authkey });
    const ids: number[] = [];
    for (let i = 0; i < 8; i++) ids.push((await c.open("dict", null, [undefined, undefined])).id);
    await assert.rejects(
      c.open("dict", null, [undefined, undefined]),
      (e) => e instanceof CapacityError && e.reason === "Full" && /8 anonymous structures/.test(e.message),
    );
    await c.open("dict", "named-ones-are-not-counted", [undefined, undefined]);
    c.release(ids[0]);
    await c.open("dict", null, [undefined, undefined]); // after the release: ordered on the connection
    assert.throws(() => new EngineHost(KINDS, { maxAnonymous: 0 }), TypeError);
  });

  it("a handle of a freed structure attaches, and its first call fails with NotFound", async () => {
    const { server, m, settle } = await serverAndManager();
    await using _server = server;
    await using _m = m;
    const d = await m.dict<string, number>();
    const handle = d.handle;
    d.close();
    await settle();
    const late = await attach<Dict<string, number>>(handle);
    await assert.rejects(late.get("a"), isNotFound);
  });

  it("keeps a structure passed to a child process while its handle travels; close() gives every reference back", async () => {
    const { server, m, settle } = await serverAndManager();
    await using _server = server;
    await using _m = m;
    const base = server.host.size;
    const d = await m.dict<string, number>();
    const lock = await m.lock();
    const back = await spawn<typeof nested>(fixture, { args: [{ pair: [d, { lock }], n: 3 }], as: "process" }).join();
    const returned = back.out[0].d;
    assert.ok(returned instanceof DictClass);
    assert.equal(await d.get("from-worker"), 3);
    assert.equal(await returned.get("from-worker"), 3);
    await settle();
    assert.equal(server.host.size, base + 2, "the dict and the lock are alive while held");
    d.close(); // its own reference and the one toWire took for the child
    lock.close();
    await settle();
    assert.equal(server.host.size, base + 1, "the returned client still holds the dict");
    returned.close();
    await settle();
    assert.equal(server.host.size, base, "nothing is left");
  });

  it("Manager.start's maxAnonymous bounds a server's anonymous structures; closing one makes room", async () => {
    await using m = await Manager.start({ transport: `unix:${join(dir, "cap.sock")}`, maxAnonymous: 3 });
    const held = [await m.dict(), await m.list(), await m.lock()];
    await assert.rejects(m.event(), (e) => e instanceof CapacityError);
    const named = await m.dict(undefined, { name: "named-ones-do-not-count" });
    await named.set("ok", 1);
    held[0].close();
    for (let i = 0;; i++) {
      // the release travels after this turn: the next open may still see the old count
      try {
        await m.event();
        break;
      } catch (e) {
        assert.ok(e instanceof CapacityError && i < 100, String(e));
      }
    }
    await assert.rejects(
      () => Manager.start({ transport: `unix:${join(dir, "bad.sock")}`, frameTimeoutMs: -1 }),
      RangeError,
    );
  });
});
