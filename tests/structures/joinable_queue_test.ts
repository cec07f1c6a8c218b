import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { QueueError, spawn } from "../../mod.ts";
import { TRANSPORTS } from "../_transports.ts";

const taskWorker = new URL("../fixtures/task_worker.ts", import.meta.url);
const producer = new URL("../fixtures/producer_worker.ts", import.meta.url);
const consumer = new URL("../fixtures/consumer_worker.ts", import.meta.url);

for (const t of TRANSPORTS) {
  describe(`JoinableQueue and SimpleQueue over ${t.name}`, () => {
    test("join returns once every item is marked done", async () => {
      await using m = await t.start();
      const q = await m.joinableQueue<number>();
      await q.join({ timeout: 1000 }); // nothing put yet
      await q.put(1);
      await q.put(2);
      assert.equal(await q.unfinished(), 2);
      await assert.rejects(() => q.join({ timeout: 20 }), (e) => e instanceof QueueError && e.reason === "Timeout");
      await q.get();
      await q.taskDone();
      await q.get();
      const joined = q.join({ timeout: 10_000 });
      await q.taskDone();
      await joined;
      assert.equal(await q.unfinished(), 0);
      await assert.rejects(() => q.taskDone(), RangeError);
    });

    test("a join aborted by a signal fails with QueueError Aborted", async () => {
      await using m = await t.start();
      const q = await m.joinableQueue<number>(4);
      await q.put(1);
      const ac = new AbortController();
      const joined = q.join({ signal: ac.signal });
      ac.abort();
      await assert.rejects(joined, (e) => e instanceof QueueError && e.reason === "Aborted");
    });

    test("workers process every item before join returns", async () => {
      await using m = await t.start();
      const q = await m.joinableQueue<number | null>({ maxsize: 50 });
      const d = await m.dict<string, number>();
      const ws = [0, 1, 2, 3].map(() => spawn(taskWorker, { args: [q, d] }));
      for (let i = 1; i <= 500; i++) await q.put(i);
      await q.join({ timeout: 30_000 });
      assert.equal(await d.get("sum"), (500 * 501) / 2);
      for (const _ of ws) await q.put(null);
      const counts = await Promise.all(ws.map((w) => w.join()));
      assert.equal((counts as number[]).reduce((a, b) => a + b), 500);
    });

    test("SimpleQueue: 2 producers and 2 consumers pass every item exactly once", async () => {
      await using m = await t.start();
      const q = await m.simpleQueue<number | null>();
      const n = t.local ? 20_000 : 2_000;
      const ps = [0, 1].map((i) => spawn(producer, { args: [q, i * n, n, 1] }));
      const cs = [0, 1].map(() => spawn(consumer, { args: [q] }));
      await Promise.all(ps.map((p) => p.join()));
      const got = ((await Promise.all(cs.map((c) => c.join()))) as number[][]).flat().sort((a, b) => a - b);
      assert.deepEqual(got, Array.from({ length: 2 * n }, (_, i) => i));
    });

    test("SimpleQueue is an unbounded FIFO", async () => {
      await using m = await t.start();
      const q = await m.simpleQueue<string>();
      assert.equal(await q.empty(), true);
      for (let i = 0; i < 100; i++) await q.put(`i${i}`);
      for (let i = 0; i < 100; i++) assert.equal(await q.get(), `i${i}`);
      assert.equal(await q.empty(), true);
    });
  });
}
