/**
 * Queue.shutdown (Python 3.13's `Queue.shutdown(immediate)`) and
 * Queue.close (Python's `Queue.close()`) on every transport, with blocked
 * getters and putters in this thread, in worker threads and in child
 * processes.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { attach, type Queue, QueueError, spawn, TransportError } from "../../mod.ts";
import { TRANSPORTS } from "../_transports.ts";

const worker = new URL("../fixtures/queue_shutdown_worker.ts", import.meta.url);

const shutDown = (e: unknown) => e instanceof QueueError && e.reason === "ShutDown";

for (const t of TRANSPORTS) {
  describe(`Queue shutdown over ${t.name}`, () => {
    test("after shutdown: puts fail, gets take what is left, then fail with ShutDown", async () => {
      await using m = await t.start();
      const q = await m.queue<number>({ maxsize: 5 });
      await q.put(1);
      await q.put(2);
      assert.equal(await q.isShutdown(), false);
      await q.shutdown();
      assert.equal(await q.isShutdown(), true);
      await assert.rejects(() => q.put(3), shutDown);
      await assert.rejects(() => q.putNowait(3), shutDown);
      assert.equal(await q.get(), 1);
      assert.equal(await q.getNowait(), 2);
      await assert.rejects(() => q.get(), shutDown); // no timeout: it must not wait
      await assert.rejects(() => q.getNowait(), shutDown);
      await assert.rejects(() => q.get({ timeout: 0 }), shutDown);
      assert.equal(await q.qsize(), 0);
      if (t.local) {
        assert.equal(q.isShutdownSync(), true);
        assert.throws(() => q.putSync(4), shutDown);
        assert.throws(() => q.getSync(), shutDown);
      }
    });

    test("an immediate shutdown drops the items: gets fail at once; a later plain shutdown does not undo it", async () => {
      await using m = await t.start();
      const q = await m.queue<string>();
      for (const x of ["a", "b".repeat(500), "c"]) await q.put(x);
      await q.shutdown({ immediate: true });
      assert.equal(await q.qsize(), 0);
      await assert.rejects(() => q.get(), shutDown);
      await assert.rejects(() => q.getNowait(), shutDown);
      await q.shutdown();
      await assert.rejects(() => q.get(), shutDown);
      await assert.rejects(() => q.shutdown({ immediate: "yes" as unknown as boolean }), TypeError);
    });

    test("shutdown wakes a getter blocked in this thread, and a putter blocked on a full queue", async () => {
      await using m = await t.start();
      const empty = await m.queue<number>();
      const full = await m.queue<number>({ maxsize: 1 });
      const items = await m.queue<number>();
      await full.put(0);
      const get = assert.rejects(empty.get(), shutDown);
      const put = assert.rejects(full.put(1), shutDown);
      const take = items.get();
      await items.put(7);
      await Promise.all([empty.shutdown(), full.shutdown(), items.shutdown()]);
      await get;
      await put;
      assert.equal(await take, 7); // a getter woken by the put takes its item, shutdown or not
      assert.equal(await full.get(), 0); // the item put before stays; the blocked put stored nothing
    });

    // a worker thread where the structures live in memory, a child process where they can reach one
    const as = t.name === "shared-buffer" ? "thread" : "process";
    test(`shutdown wakes a getter and a putter blocked in a worker ${as}`, async () => {
      await using m = await t.start();
      const q = await m.queue<number>({ maxsize: 1 });
      const gq = await m.queue<number>();
      const readies = [await m.event(), await m.event()];
      const getter = spawn(worker, { as, args: [gq, readies[0], "get"] });
      await q.put(0);
      const putter = spawn(worker, { as, args: [q, readies[1], "put"] });
      for (const r of readies) await r.wait();
      await gq.shutdown();
      await q.shutdown();
      assert.equal(await getter.join(), "ShutDown");
      assert.equal(await putter.join(), "ShutDown");
    });

    test("JoinableQueue: an immediate shutdown counts the dropped items done and releases join", async () => {
      await using m = await t.start();
      const q = await m.joinableQueue<number>();
      await q.put(1);
      await q.put(2);
      await q.put(3);
      assert.equal(await q.get(), 1); // taken, not yet done
      const joined = q.join();
      await q.shutdown({ immediate: true });
      assert.equal(await q.unfinished(), 1); // only the item taken is left, as in Python
      await assert.rejects(() => q.join({ timeout: 10 }), (e) => e instanceof QueueError && e.reason === "Timeout");
      await q.taskDone();
      await joined;
      assert.equal(await q.unfinished(), 0);
    });

    test("close() is Python's Queue.close(): this client's later calls fail, other clients go on", async () => {
      await using m = await t.start();
      const q = await m.queue<number>();
      const other = await attach<Queue<number>>(q.handle);
      await q.put(1);
      q.close();
      await assert.rejects(async () => await q.put(2), (e) => e instanceof TransportError && e.reason === "Closed");
      assert.equal(await other.get(), 1);
      await other.put(3);
      assert.equal(await other.get(), 3);
      assert.equal(await other.isShutdown(), false);
    });
  });
}
