/**
 * Every primitive's operations issued in one turn, with no await between
 * them: on the shared buffer they all run on this one thread; on a socket
 * they travel pipelined on one connection and run in one turn of the
 * server's single thread, as one owner. Nothing may wait for itself (issue 8
 * item 0: a guard held across an await froze the thread, and with it the
 * whole server). Each batch must settle with the outcomes Python gives a
 * single thread, and the manager must answer afterwards.
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LockError } from "../../mod.ts";
import { TRANSPORTS } from "../_transports.ts";

const reason = (r: string) => (e: unknown): boolean => e instanceof LockError && e.reason === r;

/** Settles every promise; fails the test (instead of hanging it) if the batch has not settled in 20 s. */
async function settle(ps: readonly Promise<unknown>[]): Promise<PromiseSettledResult<unknown>[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watchdog = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error("the batch did not settle within 20 s: something waits for itself")),
      20_000,
    );
  });
  try {
    return await Promise.race([Promise.allSettled(ps), watchdog]);
  } finally {
    clearTimeout(timer);
  }
}

const ok = (r: PromiseSettledResult<unknown>): unknown => {
  if (r.status === "rejected") throw r.reason;
  return r.value;
};
const failed = (r: PromiseSettledResult<unknown>, test: (e: unknown) => boolean): void => {
  assert.equal(r.status, "rejected", "expected a rejection");
  assert.ok(test((r as PromiseRejectedResult).reason), String((r as PromiseRejectedResult).reason));
};

for (const t of TRANSPORTS) {
  describe(`every primitive interleaved in one turn, ${t.name}`, () => {
    it("settles with single-thread outcomes and leaves the manager responsive", async () => {
      await using m = await t.start();
      const [lock, rlock, sem, bsem, cond, ev, bar] = await Promise.all([
        m.lock(),
        m.rlock(),
        m.semaphore(1),
        m.boundedSemaphore(1),
        m.condition(),
        m.event(),
        m.barrier(2),
      ]);
      const T = { timeout: 150 };
      const batch = [
        // Lock: the second acquire by the same owner times out (not re-entrant), release frees it
        lock.acquire(T), // 0
        lock.acquire(T), // 1 Timeout
        // RLock: re-entrant for the same owner, twice acquired, twice released
        rlock.acquire(T), // 2
        rlock.acquire(T), // 3
        // Semaphore(1): one permit, the second acquire times out
        sem.acquire(T), // 4
        sem.acquire(T), // 5 Timeout
        bsem.acquire(T), // 6
        // Condition: acquire, a wait that times out (releases and re-takes the lock), notify under the lock
        cond.acquire(T), // 7
        cond.wait(T), // 8 false
        // Event: a wait and the set that satisfies it in the same turn
        ev.wait({ timeout: 5000 }), // 9 true
        ev.set(), // 10
        // Barrier: a wait, then abort and reset before it could be satisfied
        bar.wait({ timeout: 5000 }), // 11 Broken
        bar.abort(), // 12
        bar.reset(), // 13
        bar.broken(), // 14 false
      ];
      const r = await settle(batch);
      ok(r[0]);
      failed(r[1], reason("Timeout"));
      ok(r[2]);
      ok(r[3]);
      ok(r[4]);
      failed(r[5], reason("Timeout"));
      ok(r[6]);
      ok(r[7]);
      assert.equal(ok(r[8]), false);
      assert.equal(ok(r[9]), true);
      ok(r[10]);
      failed(r[11], reason("Broken"));
      ok(r[12]);
      ok(r[13]);
      assert.equal(ok(r[14]), false);

      // the second batch releases everything, again in one turn, and checks the state
      const r2 = await settle([
        lock.release(),
        rlock.release(),
        rlock.release(),
        sem.release(),
        bsem.release(),
        cond.notify(),
        cond.release(),
        lock.locked(), // 7 false
        rlock.locked(), // 8 false
        sem.value(), // 9 1
        bsem.release(), // 10 ValueError-like: bounded semaphore released too many times
        ev.isSet(), // 11 true
        bar.wait(T), // 12 + 13: both parties arrive in one turn
        bar.wait(T),
      ]);
      for (const i of [0, 1, 2, 3, 4, 5, 6]) ok(r2[i]);
      assert.equal(ok(r2[7]), false);
      assert.equal(ok(r2[8]), false);
      assert.equal(ok(r2[9]), 1);
      assert.equal(r2[10].status, "rejected", "a bounded semaphore released past its value fails");
      assert.equal(ok(r2[11]), true);
      assert.deepEqual([ok(r2[12]), ok(r2[13])].sort(), [0, 1]);

      // still responsive: a fresh round of each primitive, awaited one by one
      (await lock.acquire(T)).release();
      assert.equal(
        await cond.wait({ timeout: 10 }).catch((e) => e instanceof LockError),
        true,
        "wait without the lock fails",
      );
      await ev.clear();
      assert.equal(await ev.wait({ timeout: 10 }), false);
    });
  });
}
