import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { LockError } from "../../mod.ts";
import { TRANSPORTS } from "../_transports.ts";

for (const t of TRANSPORTS) {
  describe(`Lock over ${t.name}`, () => {
    test("acquire, locked, release, tryAcquire", async () => {
      await using m = await t.start();
      const lock = await m.lock();
      assert.equal(await lock.locked(), false);
      const p = await lock.acquire();
      assert.equal(p.ownerDied, false);
      assert.equal(await lock.locked(), true);
      assert.equal(await lock.tryAcquire(), undefined);
      await p.release();
      assert.equal(await lock.locked(), false);
      const q = await lock.tryAcquire();
      assert.ok(q);
      await q.release();
    });

    test("await using releases the permit", async () => {
      await using m = await t.start();
      const lock = await m.lock();
      {
        await using _p = await lock.acquire();
        assert.equal(await lock.locked(), true);
      }
      assert.equal(await lock.locked(), false);
    });

    test("withLock releases when the function throws", async () => {
      await using m = await t.start();
      const lock = await m.lock();
      await assert.rejects(() => lock.withLock(() => Promise.reject(new Error("boom"))), /boom/);
      assert.equal(await lock.locked(), false);
      assert.equal(await lock.withLock(() => 42), 42);
    });

    test("acquire with a timeout fails with LockError Timeout", async () => {
      await using m = await t.start();
      const lock = await m.lock();
      const held = await lock.acquire();
      await assert.rejects(
        () => lock.acquire({ timeout: 30 }),
        (e) => e instanceof LockError && e.reason === "Timeout",
      );
      await held.release();
      assert.equal(await lock.locked(), false);
    });

    test("acquire aborted by a signal fails with LockError Aborted and holds nothing", async () => {
      await using m = await t.start();
      const lock = await m.lock();
      const held = await lock.acquire();
      const ac = new AbortController();
      const pending = lock.acquire({ signal: ac.signal });
      ac.abort();
      await assert.rejects(pending, (e) => e instanceof LockError && e.reason === "Aborted");
      await held.release();
      assert.equal(await lock.locked(), false);
      const already = new AbortController();
      already.abort();
      await assert.rejects(
        () => lock.acquire({ signal: already.signal }),
        (e) => e instanceof LockError && e.reason === "Aborted",
      );
    });

    test("release of an unheld lock fails with LockError NotOwner", async () => {
      await using m = await t.start();
      const lock = await m.lock();
      await assert.rejects(() => lock.release(), (e) => e instanceof LockError && e.reason === "NotOwner");
    });

    test("a bad timeout is a TypeError", async () => {
      await using m = await t.start();
      const lock = await m.lock();
      const held = await lock.acquire();
      await assert.rejects(() => lock.acquire({ timeout: -1 }), TypeError);
      await held.release();
    });
  });
}
