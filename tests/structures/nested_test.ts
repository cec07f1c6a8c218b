/**
 * Structures stored inside structures (issue 10): a Dict whose values are
 * Queues, a List of Dicts, on every transport; what is read arrives attached,
 * as Python's nested proxies, also in a worker thread or a child process,
 * and a structure held only inside another outlives its creator.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Manager } from "../../mod.ts";
import { spawn } from "../../process/mod.ts";
import { Dict } from "../../structures/dict.ts";
import { Queue } from "../../structures/queue.ts";
import { startServer } from "../../transports/socket/server.ts";
import { KINDS } from "../../kinds.ts";
import { decode, encode } from "../../transports/_codec.ts";
import { StoredHandle } from "../../transports/_nested.ts";
import type nestedStore from "../fixtures/nested_store.ts";
import { TRANSPORTS } from "../_transports.ts";

const fixture = new URL("../fixtures/nested_store.ts", import.meta.url);

for (const t of TRANSPORTS) {
  describe(`structures inside structures, ${t.name}`, () => {
    test("a Dict of Queues: a put through one read value is seen through another read", async () => {
      await using m = await t.start();
      const d = await m.dict<string, Queue<number>>();
      const q = await m.queue<number>();
      await d.set("jobs", q);
      const a = await d.get("jobs");
      assert.ok(a instanceof Queue, "the value read is an attached Queue");
      await a.put(1);
      const b = (await d.get("jobs"))!;
      assert.equal(await b.qsize(), 1);
      assert.equal(await b.get(), 1);
      await b.put(2);
      assert.equal(await q.get(), 2, "the queue stored is the one read");
      const [[k, v]] = await d.entries();
      assert.equal(k, "jobs");
      assert.ok(v instanceof Queue, "entries() attach too");
      await q.put(d as never); // a Queue of Dicts: the item taken is attached too
      const taken = await q.get() as unknown as Dict<string, Queue<number>>;
      assert.ok(taken instanceof Dict);
      assert.ok((await taken.get("jobs")) instanceof Queue);
    });

    test("a List of Dicts: every item read is an attached Dict", async () => {
      await using m = await t.start();
      const l = await m.list<Dict<string, number>>();
      const d1 = await m.dict<string, number>();
      const d2 = await m.dict<string, number>();
      await l.extend([d1, d2]);
      const items = await l.toArray();
      assert.equal(items.length, 2);
      assert.ok(items.every((x) => x instanceof Dict));
      await items[1].set("b", 2);
      assert.equal(await d2.get("b"), 2);
      await (await l.get(0)).set("a", 1);
      assert.equal(await d1.get("a"), 1);
      assert.equal(await d1.get("b"), undefined, "each item is its own dict");
    });

    // a shared-buffer structure does not leave its process (its memory is this process's)
    for (const as of t.name === "shared-buffer" ? ["thread"] as const : ["thread", "process"] as const) {
      test(`a ${as} reads nested structures, and stores one of its own that outlives it`, async () => {
        await using m = await t.start();
        const d = await m.dict<string, unknown>();
        const jobs = await m.queue<number>();
        const row = await m.dict<string, number>();
        await d.set("jobs", jobs);
        await d.set("rows", [row]);
        const ok = await spawn<typeof nestedStore>(fixture, {
          args: [d, m.address, m.address === undefined ? undefined : m.authkey, 7],
          as,
        }).join();
        assert.equal(ok, true);
        assert.equal(await jobs.get(), 7, "the worker put through the queue it read");
        assert.equal(await row.get("worker"), 7, "the worker wrote through the dict it read from a list");
        const mine = await d.get("mine");
        assert.ok(mine instanceof Queue, "the worker's queue arrives attached");
        assert.equal(await mine.get(), 14);
        await mine.put(1);
        assert.equal(await mine.get(), 1);
      });
    }
  });
}

describe("structures inside structures, socket lifetime", () => {
  const dir = mkdtempSync(join(tmpdir(), "procshare-nested-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("a structure held only inside another survives its creator's disconnection", async () => {
    await using server = await startServer({ address: `unix:${join(dir, "n.sock")}`, kinds: KINDS });
    await using m = await Manager.connect(server.address, { authkey: server.authkey });
    const d = await m.dict<string, unknown>();
    const jobs = await m.queue<number>();
    await d.set("jobs", jobs);
    await d.set("rows", [await m.dict<string, number>()]);
    const before = server.host.size;
    await spawn<typeof nestedStore>(fixture, { args: [d, server.address, server.authkey, 3], as: "process" }).join();
    // the child's connections end on the server (its process is gone): wait until the server has seen it
    const deadline = Date.now() + 10_000;
    while (server.connectionCount > 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(server.host.size, before + 1, "the child's queue, held only inside the dict, is kept");
    const mine = await d.get("mine");
    assert.ok(mine instanceof Queue, "another client reads it attached");
    assert.equal(await mine.get(), 6);
    await mine.put(1);
    assert.equal(await mine.get(), 1);
  });
});

describe("structures inside structures, codec", () => {
  test("a stored structure is a tagged handle, never user data shaped like one", () => {
    const plain = { kind: "queue", via: "shm", shm: "x" };
    assert.deepEqual(decode(encode(plain)), plain, "a plain object shaped like a handle stays a plain object");
    const back = decode(encode({ q: new StoredHandle(plain as never) })) as { q: unknown };
    assert.ok(back.q instanceof StoredHandle);
    assert.deepEqual({ ...(back.q as StoredHandle).handle }, plain);
  });
});
