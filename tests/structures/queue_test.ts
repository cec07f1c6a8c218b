import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type Queue, QueueError, spawn } from "../../mod.ts";
import { TRANSPORTS } from "../_transports.ts";

const producer = new URL("../fixtures/producer_worker.ts", import.meta.url);
const consumer = new URL("../fixtures/consumer_worker.ts", import.meta.url);

for (const t of TRANSPORTS) {
  describe(`Queue over ${t.name}`, () => {
    test("FIFO order, qsize, empty and full", async () => {
      await using m = await t.start();
      const q = await m.queue<unknown>({ maxsize: 3 });
      assert.equal(await q.empty(), true);
      await q.put(1);
      await q.put({ two: 2 });
      await q.putNowait("three");
      assert.equal(await q.qsize(), 3);
      assert.equal(await q.full(), true);
      await assert.rejects(() => q.putNowait(4), (e) => e instanceof QueueError && e.reason === "Full");
      assert.equal(await q.get(), 1);
      assert.deepEqual(await q.get(), { two: 2 });
      assert.equal(await q.getNowait(), "three");
      await assert.rejects(() => q.getNowait(), (e) => e instanceof QueueError && e.reason === "Empty");
    });

    test("get with timeout fails with QueueError Timeout; put to a full queue too", async () => {
      await using m = await t.start();
      const q = await m.queue<number>(1);
      await assert.rejects(() => q.get({ timeout: 20 }), (e) => e instanceof QueueError && e.reason === "Timeout");
      await q.put(1);
      await assert.rejects(() => q.put(2, { timeout: 20 }), (e) => e instanceof QueueError && e.reason === "Timeout");
      assert.equal(await q.qsize(), 1);
    });

    test("a get aborted by a signal fails with QueueError Aborted and takes nothing", async () => {
      await using m = await t.start();
      const q = await m.queue<number>();
      const ac = new AbortController();
      const pending = q.get({ signal: ac.signal });
      ac.abort();
      await assert.rejects(pending, (e) => e instanceof QueueError && e.reason === "Aborted");
      await q.put(7);
      assert.equal(await q.get({ timeout: 5000 }), 7);
    });

    test("a get woken after its signal aborted takes nothing", async () => {
      await using m = await t.start();
      const q = await m.queue<number>();
      const ac = new AbortController();
      const pending = q.get({ signal: ac.signal });
      ac.abort();
      await q.put(7); // wakes the getter, whose signal has already aborted
      await assert.rejects(pending, (e) => e instanceof QueueError && e.reason === "Aborted");
      assert.equal(await q.getNowait(), 7);
    });

    test("a put woken after its signal aborted stores nothing", async () => {
      await using m = await t.start();
      const q = await m.queue<number>(1);
      await q.put(1);
      const ac = new AbortController();
      const pending = q.put(2, { signal: ac.signal });
      ac.abort();
      assert.equal(await q.get(), 1); // frees the place and wakes the putter, whose signal has already aborted
      await assert.rejects(pending, (e) => e instanceof QueueError && e.reason === "Aborted");
      assert.equal(await q.qsize(), 0);
      await q.putNowait(3); // the freed place is still free
      assert.equal(await q.getNowait(), 3);
    });

    test("a blocked get is woken by a put", async () => {
      await using m = await t.start();
      const q = await m.queue<string>();
      const pending = q.get({ timeout: 10_000 });
      await q.put("hello");
      assert.equal(await pending, "hello");
    });

    for (
      const [label, pad, total] of [["small", 0, 100_000], [
        "large (heap-held)",
        200,
        t.local ? 40_000 : 4_000,
      ]] as const
    ) {
      test(`2 producers and 2 consumers pass ${total} distinct ${label} items, none lost or duplicated`, async () => {
        await using m = await t.start();
        const q: Queue<number | [number, string] | null> = await m.queue({ maxsize: 1000 });
        const half = total / 2;
        const ps = [0, 1].map((i) => spawn(producer, { args: [q, i * half, half, 1, pad] }));
        const cs = [0, 1].map(() => spawn(consumer, { args: [q] }));
        await Promise.all(ps.map((p) => p.join()));
        const got = (await Promise.all(cs.map((c) => c.join()))) as number[][];
        const all = got.flat();
        assert.equal(all.length, total);
        const seen = new Set(all);
        assert.equal(seen.size, total, "duplicates");
        for (let i = 0; i < total; i++) assert.ok(seen.has(i), `lost ${i}`);
        assert.equal(await q.qsize(), 0);
        assert.equal(await q.empty(), true);
      });
    }
  });
}

describe("Queue memory on the shared buffer", () => {
  test("1,000,000 items through a queue reuse its blocks: the buffer stays at its first size", async () => {
    const { QueueEngine } = await import("../../structures/queue.ts");
    const e = QueueEngine.create();
    const before = e.heap.byteLength();
    for (let round = 0; round < 100; round++) {
      for (let i = 0; i < 10_000; i++) e.putSync(i === 0 ? "x".repeat(300) : i);
      assert.equal(e.qsize(), 10_000);
      assert.equal(e.getSync(), "x".repeat(300));
      for (let i = 1; i < 10_000; i++) assert.equal(e.getSync(), i);
      assert.equal(e.qsize(), 0);
    }
    assert.ok(e.heap.byteLength() <= Math.max(before, 2 * 1024 * 1024), `grew to ${e.heap.byteLength()}`);
    assert.ok(e.heap.inUse() < 16 * 1024, `still holds ${e.heap.inUse()} bytes`);
  });
});
