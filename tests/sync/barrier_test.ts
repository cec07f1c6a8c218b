import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { LockError } from "../../errors.ts";
import { spawn } from "../../process/spawn.ts";
import type { Barrier } from "../../sync/barrier.ts";
import { type Session, SYNC_CASES, type SyncCase, words } from "./fixtures/cases.ts";

const roundsWorker = new URL("./fixtures/barrier_rounds_worker.ts", import.meta.url);
const partyWorker = new URL("./fixtures/barrier_party_worker.ts", import.meta.url);
const lockError = (reason: string) => (e: unknown) => e instanceof LockError && e.reason === reason;

/**
 * Resolves once `n` parties wait on the barrier: polls the barrier's own
 * `nWaiting`, yielding to the event loop between looks (no timed sleeps).
 */
async function arrived(b: Barrier, n: number, timeoutMs = 10_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while ((await b.nWaiting()) < n) {
    if (performance.now() > end) throw new Error(`Timed out waiting for ${n} parties to arrive`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A party in another thread (or over another connection) that waits once this resolves. */
async function partyElsewhere(
  c: SyncCase,
  m: Session,
  b: Barrier,
  already: number,
): Promise<{ kill(): Promise<void> }> {
  if (c.threads) {
    const w = spawn(partyWorker, { args: [b] });
    w.join().catch(() => {});
    await arrived(b, already + 1);
    return { kill: () => w.terminate() };
  }
  const peer = m.peer!();
  (await peer.reopen(b)).wait().catch(() => {});
  await arrived(b, already + 1);
  return {
    kill: () => {
      peer.drop();
      return Promise.resolve();
    },
  };
}

for (const c of SYNC_CASES) {
  describe(`Barrier over ${c.name}`, () => {
    test("releases all parties together with distinct arrival indexes, generation after generation", async () => {
      await using m = await c.start();
      const b = await m.barrier(3);
      assert.equal(await b.parties(), 3);
      for (let gen = 0; gen < 3; gen++) {
        const first = b.wait();
        await arrived(b, 1);
        const rest = [b.wait(), b.wait({ timeout: 5_000 })];
        const indexes = await Promise.all([first, ...rest]);
        assert.equal(indexes[0], 0, "the first to arrive gets 0");
        assert.deepEqual([...indexes].sort(), [0, 1, 2]);
        assert.equal(await b.nWaiting(), 0);
        assert.equal(await b.broken(), false);
      }
      const one = await m.barrier(1);
      assert.equal(await one.wait(), 0);
    });

    test("the action runs once per generation, before anyone is released", async () => {
      await using m = await c.start();
      let runs = 0;
      const b = await m.barrier(3, { action: () => void runs++ });
      for (let gen = 1; gen <= 3; gen++) {
        const seen = await Promise.all([0, 1, 2].map(() => b.wait().then(() => runs)));
        assert.deepEqual(seen, [gen, gen, gen]);
      }
      const asyncAction = (await m.barrier(2)).withAction(async () => {
        await new Promise((resolve) => setImmediate(resolve));
        runs = 100;
      });
      assert.deepEqual(await Promise.all([asyncAction.wait().then(() => runs), asyncAction.wait().then(() => runs)]), [
        100,
        100,
      ]);
    });

    test("an action that throws breaks the barrier; its error reaches the last party", async () => {
      await using m = await c.start();
      const b = await m.barrier(2, {
        action: () => {
          throw new Error("action failed");
        },
      });
      const first = b.wait();
      await arrived(b, 1);
      await assert.rejects(b.wait(), /action failed/);
      await assert.rejects(first, lockError("Broken"));
      assert.equal(await b.broken(), true);
      await assert.rejects(b.wait(), lockError("Broken"));
    });

    test("a timeout breaks the barrier for every waiter (as Python); reset() mends it", async () => {
      await using m = await c.start();
      const b = await m.barrier(3);
      const other = b.wait();
      await arrived(b, 1);
      await assert.rejects(b.wait({ timeout: 30 }), (e) => lockError("Broken")(e) && /timeout/.test(String(e)));
      await assert.rejects(other, lockError("Broken"));
      assert.equal(await b.broken(), true);
      assert.equal(await b.nWaiting(), 0);
      await assert.rejects(b.wait(), lockError("Broken"));
      await b.reset();
      assert.equal(await b.broken(), false);
      assert.deepEqual((await Promise.all([b.wait(), b.wait(), b.wait()])).sort(), [0, 1, 2]);
      const timed = await m.barrier(2, { timeout: 20 });
      await assert.rejects(timed.wait(), lockError("Broken"));
      await assert.rejects(() => b.wait({ timeout: -1 }), TypeError);
    });

    test("abort() breaks it; reset() while parties wait fails them but leaves it whole", async () => {
      await using m = await c.start();
      const b = await m.barrier(2);
      const w1 = b.wait();
      await arrived(b, 1);
      await b.abort();
      await assert.rejects(w1, lockError("Broken"));
      await assert.rejects(b.wait(), lockError("Broken"));
      await b.reset();
      const w2 = b.wait();
      await arrived(b, 1);
      await b.reset();
      await assert.rejects(w2, lockError("Broken"));
      assert.equal(await b.broken(), false);
      assert.deepEqual((await Promise.all([b.wait(), b.wait()])).sort(), [0, 1]);
    });

    test("abort() and reset() right after wait(), with no await between, do not deadlock", async () => {
      // The barrier's guarded section used to be entered with an await and
      // held until the waiter's next microtask: a synchronous abort() in that
      // window waited for its own thread forever.
      await using m = await c.start();
      const b = await m.barrier(2);
      const p = b.wait({ timeout: 1000 });
      await b.abort();
      await assert.rejects(p, lockError("Broken"));
      assert.equal(await b.broken(), true);
      await b.reset();
      const q = b.wait({ timeout: 1000 });
      await b.reset();
      await assert.rejects(q, lockError("Broken"));
      assert.equal(await b.broken(), false);
    });

    test("an aborted wait fails with Aborted and breaks the barrier for the others", async () => {
      await using m = await c.start();
      const b = await m.barrier(3);
      const other = b.wait();
      await arrived(b, 1);
      const ac = new AbortController();
      const mine = b.wait({ signal: ac.signal });
      await arrived(b, 2);
      ac.abort();
      await assert.rejects(mine, lockError("Aborted"));
      await assert.rejects(other, lockError("Broken"));
      const aborted = new AbortController();
      aborted.abort();
      await b.reset();
      await assert.rejects(b.wait({ signal: aborted.signal }), lockError("Aborted"));
      assert.equal(await b.broken(), false, "a wait aborted before arriving breaks nothing");
    });

    test("bad parties are TypeErrors", async () => {
      await using m = await c.start();
      await assert.rejects(() => m.barrier(0), TypeError);
      await assert.rejects(() => m.barrier(2.5), TypeError);
    });

    test("a party that dies while others wait breaks the barrier within 1 s", { timeout: 30_000 }, async () => {
      await using m = await c.start();
      const b = await m.barrier(3);
      const dead = await partyElsewhere(c, m, b, 0);
      let failedAt = 0;
      const mine = assert.rejects(b.wait({ timeout: 10_000 }), lockError("Broken")).then(() => {
        failedAt = performance.now();
      });
      await arrived(b, 2);
      const killedAt = performance.now();
      await dead.kill();
      await mine;
      const ms = failedAt - killedAt;
      assert.ok(ms < 1_000, `broken after ${ms.toFixed(0)} ms`);
      assert.equal(await b.broken(), true);
    });

    test(`Sync twins ${c.local ? "work" : "are refused"}`, async () => {
      await using m = await c.start();
      const b = await m.barrier(1);
      if (!c.local) {
        assert.throws(() => b.waitSync(), TypeError);
        assert.throws(() => b.brokenSync(), TypeError);
        return;
      }
      let runs = 0;
      const counted = b.withAction(() => void runs++);
      assert.equal(counted.waitSync(), 0);
      assert.equal(counted.waitSync({ timeout: 10 }), 0);
      assert.equal(runs, 2);
      assert.equal(b.nWaitingSync(), 0);
      b.abortSync();
      assert.equal(b.brokenSync(), true);
      assert.throws(() => b.waitSync(), lockError("Broken"));
      b.resetSync();
      assert.equal(b.waitSync(), 0);
      const two = await m.barrier(2);
      assert.throws(() => two.waitSync({ timeout: 10 }), lockError("Broken"));
    });

    if (c.threads) {
      test("4 workers x n generations stay in step; one action per generation", { timeout: 60_000 }, async () => {
        await using m = await c.start();
        const parties = 4;
        const rounds = c.local ? 200 : 50;
        const b = await m.barrier(parties);
        const log = words(parties + rounds * parties + 1);
        const actions = words(1);
        const ws = [0, 1, 2, 3].map((w) =>
          spawn(roundsWorker, { args: [b, w, parties, rounds, log, actions, c.local && w % 2 === 0] })
        );
        assert.deepEqual(await Promise.all(ws.map((w) => w.join())), [rounds, rounds, rounds, rounds]);
        assert.equal(log[parties + rounds * parties], 0, "violations");
        assert.equal(actions[0], rounds);
        for (let r = 0; r < rounds; r++) {
          const seen = Array.from(log.subarray(parties + r * parties, parties + (r + 1) * parties));
          assert.deepEqual(seen, [1, 1, 1, 1], `round ${r}: every index once`);
        }
      });
    }
  });
}
