import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { LockError } from "../../errors.ts";
import { spawn } from "../../process/spawn.ts";
import { holdElsewhere, SYNC_CASES, words } from "./fixtures/cases.ts";

const incrementWorker = new URL("./fixtures/rlock_increment_worker.ts", import.meta.url);
const lockError = (reason: string) => (e: unknown) => e instanceof LockError && e.reason === reason;

for (const c of SYNC_CASES) {
  describe(`RLock over ${c.name}`, () => {
    test("re-enters, and is free after as many releases as acquires", async () => {
      await using m = await c.start();
      const r = await m.rlock();
      assert.equal(await r.locked(), false);
      const a = await r.acquire();
      const b = await r.acquire({ timeout: 0 });
      assert.equal(a.ownerDied, false);
      assert.equal(b.ownerDied, false);
      assert.equal(await r.isOwned(), true);
      await b.release();
      assert.equal(await r.locked(), true);
      await a.release();
      assert.equal(await r.locked(), false);
      assert.equal(await r.isOwned(), false);
      const t = await r.tryAcquire();
      assert.ok(t);
      const t2 = await r.tryAcquire();
      assert.ok(t2, "tryAcquire re-enters");
      await t2.release();
      await t.release();
      assert.equal(await r.locked(), false);
    });

    test("withLock nests and releases when the function throws", async () => {
      await using m = await c.start();
      const r = await m.rlock();
      assert.equal(await r.withLock(() => r.withLock(() => 7)), 7);
      await assert.rejects(() => r.withLock(() => r.withLock(() => Promise.reject(new Error("boom")))), /boom/);
      assert.equal(await r.locked(), false);
      {
        await using _p = await r.acquire();
        assert.equal(await r.locked(), true);
      }
      assert.equal(await r.locked(), false);
    });

    test("release of an unheld rlock fails with NotOwner", async () => {
      await using m = await c.start();
      const r = await m.rlock();
      await assert.rejects(() => r.release(), lockError("NotOwner"));
    });

    test("held by another owner: Timeout, Aborted, NotOwner, then it is free", { timeout: 30_000 }, async () => {
      await using m = await c.start();
      const r = await m.rlock();
      const other = await holdElsewhere(c, m, r, 2);
      assert.equal(await r.locked(), true);
      assert.equal(await r.isOwned(), false);
      assert.equal(await r.tryAcquire(), undefined);
      await assert.rejects(() => r.acquire({ timeout: 20 }), lockError("Timeout"));
      const ac = new AbortController();
      const pending = r.acquire({ signal: ac.signal });
      ac.abort();
      await assert.rejects(pending, lockError("Aborted"));
      const aborted = new AbortController();
      aborted.abort();
      await assert.rejects(() => r.acquire({ signal: aborted.signal }), lockError("Aborted"));
      await assert.rejects(() => r.release(), lockError("NotOwner"));
      const waiting = r.acquire({ timeout: 30_000 });
      await other.release();
      const p = await waiting;
      assert.equal(p.ownerDied, false);
      await p.release();
      assert.equal(await r.locked(), false);
    });

    test(
      "a holder that dies: the waiting acquirer gets it within 1 s with ownerDied, depth reset",
      { timeout: 30_000 },
      async () => {
        await using m = await c.start();
        const r = await m.rlock();
        const other = await holdElsewhere(c, m, r, 3);
        const waiting = r.acquire({ timeout: 5_000 });
        await other.kill();
        const died = performance.now();
        const p = await waiting;
        const ms = performance.now() - died;
        assert.equal(p.ownerDied, true);
        assert.ok(ms < 1_000, `took over after ${ms.toFixed(0)} ms`);
        await p.release(); // depth was reset to 1
        assert.equal(await r.locked(), false);
        const q = await r.acquire();
        assert.equal(q.ownerDied, false);
        await q.release();
      },
    );

    test("a bad timeout is a TypeError", async () => {
      await using m = await c.start();
      const r = await m.rlock();
      await assert.rejects(() => r.acquire({ timeout: -1 }), TypeError);
    });

    test(`Sync twins ${c.local ? "work" : "are refused"}`, async () => {
      await using m = await c.start();
      const r = await m.rlock();
      if (!c.local) {
        assert.throws(() => r.acquireSync(), TypeError);
        assert.throws(() => r.withLockSync(() => 1), TypeError);
        return;
      }
      const a = r.acquireSync();
      const b = r.tryAcquireSync();
      assert.ok(b);
      assert.equal(r.isOwnedSync(), true);
      b[Symbol.dispose]();
      a[Symbol.dispose]();
      assert.equal(r.isOwnedSync(), false);
      assert.equal(r.withLockSync(() => r.withLockSync(() => 3)), 3);
      assert.throws(() => r.releaseSync(), lockError("NotOwner"));
    });

    if (c.threads) {
      test("4 workers x n nested increments end at exactly 4n", { timeout: 60_000 }, async () => {
        await using m = await c.start();
        const r = await m.rlock();
        const counter = words(1);
        const n = c.local ? 2_000 : 250;
        const ws = [0, 1, 2, 3].map((i) => spawn(incrementWorker, { args: [r, counter, n, c.local && i % 2 === 0] }));
        assert.deepEqual(await Promise.all(ws.map((w) => w.join())), [n, n, n, n]);
        assert.equal(counter[0], 4 * n);
        assert.equal(await r.locked(), false);
      });
    }
  });
}
