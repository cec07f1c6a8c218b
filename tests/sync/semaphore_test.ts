import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CapacityError, LockError } from "../../errors.ts";
import { spawn } from "../../process/spawn.ts";
import { BoundedSemaphore } from "../../sync/semaphore.ts";
import { Guard, journalWords } from "../../sync/_guard.ts";
import { allocateId, markDead } from "../../transports/_runtime/threads.ts";
import { holdElsewhere, SYNC_CASES, words } from "./fixtures/cases.ts";

const boundWorker = new URL("./fixtures/semaphore_bound_worker.ts", import.meta.url);
const lockError = (reason: string) => (e: unknown) => e instanceof LockError && e.reason === reason;

for (const c of SYNC_CASES) {
  describe(`Semaphore over ${c.name}`, () => {
    test("counts permits down and up; value() tells the free ones", async () => {
      await using m = await c.start();
      const s = await m.semaphore(2);
      assert.equal(await s.value(), 2);
      const a = await s.acquire();
      const b = await s.acquire({ timeout: 0 });
      assert.equal(a.ownerDied, false);
      assert.equal(await s.value(), 0);
      assert.equal(await s.tryAcquire(), undefined);
      await a.release();
      await a.release(); // a permit releases once
      assert.equal(await s.value(), 1);
      const t = await s.tryAcquire();
      assert.ok(t);
      await t.release();
      await b.release();
      assert.equal(await s.value(), 2);
      const one = await m.semaphore();
      assert.equal(await one.value(), 1, "the default value is 1");
    });

    test("anyone may release: a release without a permit adds one (signalling)", async () => {
      await using m = await c.start();
      const s = await m.semaphore(0);
      const waiting = s.acquire({ timeout: 5_000 });
      await s.release();
      const p = await waiting;
      assert.equal(p.ownerDied, false);
      await p.forget(); // consumed for good
      assert.equal(await s.value(), 0);
      await s.release();
      await s.release();
      assert.equal(await s.value(), 2);
    });

    test("withPermit releases when the function throws; using releases too", async () => {
      await using m = await c.start();
      const s = await m.semaphore(1);
      await assert.rejects(() => s.withPermit(() => Promise.reject(new Error("boom"))), /boom/);
      assert.equal(await s.value(), 1);
      assert.equal(await s.withPermit(() => 5), 5);
      {
        await using _p = await s.acquire();
        assert.equal(await s.value(), 0);
      }
      assert.equal(await s.value(), 1);
    });

    test("acquire fails with Timeout and Aborted, holding nothing", async () => {
      await using m = await c.start();
      const s = await m.semaphore(1);
      const held = await s.acquire();
      await assert.rejects(() => s.acquire({ timeout: 20 }), lockError("Timeout"));
      const ac = new AbortController();
      const pending = s.acquire({ signal: ac.signal });
      ac.abort();
      await assert.rejects(pending, lockError("Aborted"));
      const aborted = new AbortController();
      aborted.abort();
      await assert.rejects(() => s.acquire({ signal: aborted.signal }), lockError("Aborted"));
      await held.release();
      assert.equal(await s.value(), 1);
    });

    test("bad values are TypeErrors", async () => {
      await using m = await c.start();
      await assert.rejects(() => m.semaphore(-1), TypeError);
      await assert.rejects(() => m.semaphore(1.5), TypeError);
      await assert.rejects(() => m.boundedSemaphore(-1), TypeError);
      await assert.rejects(() => m.semaphore(1, { maxHolders: 0 }), TypeError);
      const s = await m.semaphore(1);
      await assert.rejects(() => s.acquire({ timeout: -5 }), TypeError);
    });

    test("BoundedSemaphore refuses a release above its initial value with NotOwner", async () => {
      await using m = await c.start();
      const s = await m.boundedSemaphore(2);
      assert.ok(s instanceof BoundedSemaphore);
      await assert.rejects(() => s.release(), lockError("NotOwner"));
      const p = await s.acquire();
      assert.equal(await s.value(), 1);
      await p.release();
      assert.equal(await s.value(), 2);
      await assert.rejects(() => s.release(), lockError("NotOwner"));
      assert.equal(await s.value(), 2);
    });

    test(
      "a holder that dies: the waiting acquirer gets its permit within 1 s with ownerDied",
      { timeout: 30_000 },
      async () => {
        await using m = await c.start();
        const s = await m.semaphore(1);
        const other = await holdElsewhere(c, m, s);
        assert.equal(await s.value(), 0);
        const waiting = s.acquire({ timeout: 5_000 });
        await other.kill();
        const died = performance.now();
        const p = await waiting;
        const ms = performance.now() - died;
        assert.equal(p.ownerDied, true);
        assert.ok(ms < 1_000, `reclaimed after ${ms.toFixed(0)} ms`);
        await p.release();
        assert.equal(await s.value(), 1);
        const q = await s.acquire();
        assert.equal(q.ownerDied, false, "only the dead holder's permits say so");
        await q.release();
      },
    );

    test(
      "every permit of a dead holder comes back, never above a BoundedSemaphore's bound",
      { timeout: 30_000 },
      async () => {
        await using m = await c.start();
        const s = await m.boundedSemaphore(3);
        const other = await holdElsewhere(c, m, s, 2);
        const mine = await s.acquire();
        assert.equal(await s.value(), 0);
        await other.kill();
        const a = await s.acquire({ timeout: 5_000 });
        const b = await s.acquire({ timeout: 5_000 });
        assert.deepEqual([a.ownerDied, b.ownerDied], [true, true]);
        assert.equal(await s.value(), 0);
        await Promise.all([a.release(), b.release(), mine.release()]);
        assert.equal(await s.value(), 3);
        await assert.rejects(() => s.release(), lockError("NotOwner"));
      },
    );

    test(
      "a released permit leaves its holder: the holder's death gives nothing back",
      { timeout: 30_000 },
      async () => {
        await using m = await c.start();
        const s = await m.semaphore(1);
        const other = await holdElsewhere(c, m, s);
        const waiting = s.acquire({ timeout: 5_000 });
        await other.release();
        await other.kill(); // dies holding nothing
        const p = await waiting;
        assert.equal(p.ownerDied, false);
        await assert.rejects(() => s.acquire({ timeout: 50 }), lockError("Timeout"));
        await p.release();
        assert.equal(await s.value(), 1);
      },
    );

    test("more distinct holders than maxHolders fail with CapacityError", { timeout: 30_000 }, async () => {
      await using m = await c.start();
      const s = await m.semaphore(2, { maxHolders: 1 });
      const other = await holdElsewhere(c, m, s);
      await assert.rejects(() => s.acquire({ timeout: 100 }), CapacityError);
      assert.equal(await s.value(), 1);
      await other.release();
      const p = await s.acquire();
      await p.release();
    });

    test(`Sync twins ${c.local ? "work" : "are refused"}`, async () => {
      await using m = await c.start();
      const s = await m.semaphore(1);
      if (!c.local) {
        assert.throws(() => s.acquireSync(), TypeError);
        assert.throws(() => s.valueSync(), TypeError);
        return;
      }
      const p = s.acquireSync({ timeout: 100 });
      assert.equal(s.valueSync(), 0);
      assert.equal(s.tryAcquireSync(), undefined);
      assert.throws(() => s.acquireSync({ timeout: 10 }), lockError("Timeout"));
      p[Symbol.dispose]();
      assert.equal(s.withPermitSync(() => s.valueSync()), 0);
      s.releaseSync();
      assert.equal(s.valueSync(), 2);
    });

    if (c.threads) {
      test("4 workers never hold more permits than a BoundedSemaphore(2) has", { timeout: 60_000 }, async () => {
        await using m = await c.start();
        const s = await m.boundedSemaphore(2);
        const stats = words(3);
        const n = c.local ? 2_000 : 250;
        const ws = [0, 1, 2, 3].map((i) => spawn(boundWorker, { args: [s, stats, n, 2, c.local && i % 2 === 0] }));
        assert.deepEqual(await Promise.all(ws.map((w) => w.join())), [n, n, n, n]);
        assert.equal(stats[2], 0, "violations");
        assert.ok(stats[1] <= 2 && stats[1] >= 1, `most inside at once: ${stats[1]}`);
        assert.equal(stats[0], 0);
        assert.equal(await s.value(), 2);
      });
    }
  });
}

describe("The guarded section under Semaphore and Barrier (sync/_guard.ts)", () => {
  test("a holder that died in the middle of a change is undone by the next thread to enter", () => {
    const i32 = new Int32Array(new SharedArrayBuffer((3 + journalWords(2)) * 4));
    let takeovers = 0;
    const guard = new Guard(i32, { word: 0, journal: 3, entries: 2, onOwnerDied: () => void takeovers++ });
    i32[1] = 10;
    i32[2] = 20;
    // another thread journaled words 1 and 2, wrote word 1 only, and died holding the guard
    guard.begin(1, 2);
    i32[1] = 11;
    const dead = allocateId();
    Atomics.store(i32, 0, dead);
    markDead(dead);
    guard.run(() => {
      assert.deepEqual([i32[1], i32[2]], [10, 20], "the half-done change is undone");
      assert.equal(takeovers, 1);
      guard.begin(1);
      i32[1] = 12;
      guard.commit();
    });
    assert.equal(Atomics.load(i32, 0), 0, "left free");
    guard.run(() => assert.equal(i32[1], 12, "a committed change stays"));
    assert.equal(takeovers, 1);
  });

  test("entering a guard this thread holds fails instead of waiting for itself", () => {
    const guard = new Guard(new Int32Array(new SharedArrayBuffer(4)), { word: 0 });
    guard.run(() => assert.throws(() => guard.enter(), /holds it already/));
    guard.run(() => {}); // left free
  });
});
