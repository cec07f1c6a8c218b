import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CapacityError, LockError } from "../../errors.ts";
import { spawn } from "../../process/spawn.ts";
import type { Condition } from "../../sync/condition.ts";
import { bump, type Session, SYNC_CASES, type SyncCase, until, words } from "./fixtures/cases.ts";

const pcWorker = new URL("./fixtures/condition_pc_worker.ts", import.meta.url);
const waitWorker = new URL("./fixtures/condition_wait_worker.ts", import.meta.url);
const lockError = (reason: string) => (e: unknown) => e instanceof LockError && e.reason === reason;

/**
 * Starts a waiter in this thread that holds the lock, counts itself into
 * `ready[0]` and waits. A Lock (not an RLock) tells async tasks of one thread
 * apart, so several such waiters can share a condition.
 */
function waiter(cond: Condition, ready: Int32Array, timeout = 5_000): Promise<boolean> {
  return cond.withLock(() => {
    bump(ready, 0);
    return cond.wait({ timeout });
  });
}

/**
 * A waiter in another thread (or over another connection) that is waiting
 * once this resolves. It also holds a sentinel lock: `kill()` resolves once
 * the sentinel was taken over, i.e. once the waiter's death is known to the
 * primitives (over a socket that is when its connection closes).
 */
async function waitingElsewhere(c: SyncCase, m: Session, cond: Condition): Promise<{ kill(): Promise<void> }> {
  const sentinel = await m.lock();
  const known = async () => {
    const p = await sentinel.acquire({ timeout: 5_000 });
    assert.equal(p.ownerDied, true);
    await p.release();
  };
  if (c.threads) {
    const flag = words(1);
    const w = spawn(waitWorker, { args: [cond, flag, sentinel] });
    w.join().catch(() => {});
    await until(flag, 0, 1);
    await (await cond.acquire()).release(); // it released the lock: it waits
    return { kill: () => w.terminate().then(known) };
  }
  const peer = m.peer!();
  await (await peer.reopen(sentinel)).acquire();
  const theirs = await peer.reopen(cond);
  const ready = words(1);
  waiter(theirs, ready, 60_000).catch(() => {}); // it fails once its connection drops
  await until(ready, 0, 1);
  await (await cond.acquire()).release();
  return {
    kill: () => {
      peer.drop();
      return known();
    },
  };
}

for (const c of SYNC_CASES) {
  describe(`Condition over ${c.name}`, () => {
    test("wait and notify need the lock: NotOwner otherwise", async () => {
      await using m = await c.start();
      for (const cond of [await m.condition(), await m.condition(await m.lock())]) {
        await assert.rejects(() => cond.wait({ timeout: 10 }), lockError("NotOwner"));
        await assert.rejects(() => cond.notify(), lockError("NotOwner"));
        await assert.rejects(() => cond.notifyAll(), lockError("NotOwner"));
        // a failed wait leaves no waiter behind
        await cond.withLock(() => cond.notify());
      }
    });

    test("wait returns false after the timeout, with the lock held again (RLock depth kept)", async () => {
      await using m = await c.start();
      const cond = await m.condition();
      const outer = await cond.acquire();
      const inner = await cond.acquire();
      const t0 = performance.now();
      assert.equal(await cond.wait({ timeout: 30 }), false);
      assert.ok(performance.now() - t0 >= 25);
      await inner.release();
      await outer.release();
      await assert.rejects(() => cond.release(), lockError("NotOwner"));
    });

    test("notify wakes the oldest waiters first; notifyAll wakes the rest", async () => {
      await using m = await c.start();
      const cond = await m.condition(await m.lock());
      const ready = words(1);
      const order: number[] = [];
      const ws: Promise<boolean>[] = [];
      for (let i = 0; i < 4; i++) {
        ws.push(waiter(cond, ready).then((r) => (order.push(i), r)));
        await until(ready, 0, i + 1);
      }
      await cond.withLock(() => cond.notify(0));
      await cond.withLock(() => cond.notify());
      assert.equal(await ws[0], true);
      await cond.withLock(() => cond.notify(2));
      assert.deepEqual(await Promise.all([ws[1], ws[2]]), [true, true]);
      await cond.withLock(() => cond.notifyAll());
      assert.equal(await ws[3], true);
      // the two woken by one notify(2) retake the lock in either order (as in Python): the oldest
      // are woken first, not in a set order among themselves
      assert.deepEqual([order[0], ...order.slice(1, 3).sort(), order[3]], [0, 1, 2, 3]);
    });

    test("a notify between the waiter's release and its sleep is not lost", async () => {
      await using m = await c.start();
      const cond = await m.condition(await m.lock());
      for (let i = 0; i < 20; i++) {
        const ready = words(1);
        const w = waiter(cond, ready);
        await until(ready, 0, 1);
        await cond.withLock(() => cond.notify());
        assert.equal(await w, true);
      }
    });

    test("waitFor loops until the predicate holds, or returns its falsy value on timeout", async () => {
      await using m = await c.start();
      const cond = await m.condition(await m.lock());
      let state = 0;
      assert.equal(await cond.withLock(() => cond.waitFor(() => state > 0, { timeout: 20 })), false);
      assert.equal(await cond.withLock(() => cond.waitFor(() => "ready")), "ready");
      const ready = words(1);
      const w = cond.withLock(() => {
        bump(ready, 0);
        return cond.waitFor(() => state >= 2 && state, { timeout: 5_000 });
      });
      await until(ready, 0, 1);
      for (let i = 0; i < 2; i++) {
        await cond.withLock(async () => {
          state++;
          await cond.notifyAll();
        });
      }
      assert.equal(await w, 2);
    });

    test("an aborted wait fails with Aborted, with the lock held again", async () => {
      await using m = await c.start();
      const cond = await m.condition(await m.lock());
      const ac = new AbortController();
      const ready = words(1);
      const w = cond.withLock(async () => {
        bump(ready, 0);
        await assert.rejects(cond.wait({ signal: ac.signal }), lockError("Aborted"));
        // held again: notify is allowed
        await cond.notify();
        return "done";
      });
      await until(ready, 0, 1);
      ac.abort();
      assert.equal(await w, "done");
      const aborted = new AbortController();
      aborted.abort();
      await cond.withLock(() => assert.rejects(cond.wait({ signal: aborted.signal }), lockError("Aborted")));
      await cond.withLock(() => assert.rejects(cond.wait({ timeout: -1 }), TypeError));
      // the aborted wait left nothing behind that could swallow the next notify
      const again = words(1);
      const next = waiter(cond, again);
      await until(again, 0, 1);
      await cond.withLock(() => cond.notify(1));
      assert.equal(await next, true);
    });

    test("more waiters than maxWaiters fail with CapacityError, still holding the lock", async () => {
      await using m = await c.start();
      const cond = await m.condition(await m.lock(), { maxWaiters: 1 });
      const ready = words(1);
      const w = waiter(cond, ready);
      await until(ready, 0, 1);
      await cond.withLock(async () => {
        await assert.rejects(cond.wait({ timeout: 10 }), CapacityError);
        await cond.notify();
      });
      assert.equal(await w, true);
      await assert.rejects(() => m.condition(undefined, { maxWaiters: 0 }), TypeError);
    });

    test("a waiter that died does not swallow a notify", { timeout: 30_000 }, async () => {
      await using m = await c.start();
      // a Lock: the waiter and the notifier below are two tasks of this thread
      const cond = await m.condition(await m.lock());
      const dead = await waitingElsewhere(c, m, cond);
      await dead.kill();
      const ready = words(1);
      const w = cond.withLock(() => {
        bump(ready, 0);
        return cond.wait({ timeout: 5_000 });
      });
      await until(ready, 0, 1);
      await cond.withLock(() => cond.notify(1));
      assert.equal(await w, true);
    });

    test(`Sync twins ${c.local ? "work" : "are refused"}`, async () => {
      await using m = await c.start();
      const cond = await m.condition();
      if (!c.local) {
        assert.throws(() => cond.waitSync(), TypeError);
        assert.throws(() => cond.notifySync(), TypeError);
        return;
      }
      assert.throws(() => cond.notifySync(), lockError("NotOwner"));
      assert.throws(() => cond.waitSync({ timeout: 1 }), lockError("NotOwner"));
      cond.withLockSync(() => {
        assert.equal(cond.waitSync({ timeout: 5 }), false);
        assert.equal(cond.waitForSync(() => 0, { timeout: 5 }), 0);
        cond.notifySync();
        cond.notifyAllSync();
      });
      const plain = await m.condition(await m.lock());
      plain.acquireSync();
      assert.equal(plain.waitSync({ timeout: 5 }), false);
      plain.releaseSync();
      assert.throws(() => plain.notifySync(), lockError("NotOwner"));
    });

    if (c.threads) {
      test(
        "2 producers and 2 consumers on notify(1): every item arrives, no wake-up is lost",
        { timeout: 60_000 },
        async () => {
          await using m = await c.start();
          const lock = await m.lock();
          const notFull = await m.condition(lock);
          const notEmpty = await m.condition(lock);
          const cap = 4;
          const ring = words(4 + cap);
          const n = c.local ? 1_000 : 200;
          const sync = c.local;
          const ws = [
            spawn(pcWorker, { args: ["producer", notFull, notEmpty, ring, cap, n, 1, sync] }),
            spawn(pcWorker, { args: ["producer", notFull, notEmpty, ring, cap, n, n + 1, false] }),
            spawn(pcWorker, { args: ["consumer", notFull, notEmpty, ring, cap, n, 0, sync] }),
            spawn(pcWorker, { args: ["consumer", notFull, notEmpty, ring, cap, n, 0, false] }),
          ];
          assert.deepEqual(await Promise.all(ws.map((w) => w.join())), [n, n, n, n]);
          const total = 2 * n;
          assert.equal(ring[3], (total * (total + 1)) / 2, "sum of consumed items");
          assert.equal(ring[2], 0);
        },
      );
    }
  });
}
