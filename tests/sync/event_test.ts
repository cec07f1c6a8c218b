import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { LockError } from "../../errors.ts";
import { spawn } from "../../process/spawn.ts";
import { SYNC_CASES, until, words } from "./fixtures/cases.ts";

const waitWorker = new URL("./fixtures/event_wait_worker.ts", import.meta.url);
const lockError = (reason: string) => (e: unknown) => e instanceof LockError && e.reason === reason;

for (const c of SYNC_CASES) {
  describe(`Event over ${c.name}`, () => {
    test("set, isSet, clear", async () => {
      await using m = await c.start();
      const e = await m.event();
      assert.equal(await e.isSet(), false);
      await e.set();
      await e.set();
      assert.equal(await e.isSet(), true);
      await e.clear();
      assert.equal(await e.isSet(), false);
      await e.clear();
      assert.equal(await e.isSet(), false);
    });

    test("wait returns true once set, at once when already set", async () => {
      await using m = await c.start();
      const e = await m.event();
      const waiting = [e.wait(), e.wait({ timeout: 5_000 })];
      await e.set();
      assert.deepEqual(await Promise.all(waiting), [true, true]);
      assert.equal(await e.wait({ timeout: 0 }), true);
      assert.equal(await e.wait(), true);
    });

    test("wait returns false when the timeout elapses (as Python), and throws Aborted on abort", async () => {
      await using m = await c.start();
      const e = await m.event();
      assert.equal(await e.wait({ timeout: 0 }), false);
      const t0 = performance.now();
      assert.equal(await e.wait({ timeout: 30 }), false);
      assert.ok(performance.now() - t0 >= 25);
      const ac = new AbortController();
      const pending = e.wait({ signal: ac.signal });
      ac.abort();
      await assert.rejects(pending, lockError("Aborted"));
      const aborted = new AbortController();
      aborted.abort();
      await assert.rejects(() => e.wait({ signal: aborted.signal }), lockError("Aborted"));
      await assert.rejects(() => e.wait({ timeout: -1 }), TypeError);
    });

    test("a name opens the same event", async () => {
      await using m = await c.start();
      const a = await m.event({ name: "go" });
      const b = await m.event({ name: "go" });
      await a.set();
      assert.equal(await b.isSet(), true);
    });

    if (c.local) {
      test("a set() at once undone by clear() still wakes every waiter (Sync twins too)", async () => {
        await using m = await c.start();
        const e = await m.event();
        const waiting = [e.wait({ timeout: 5_000 }), e.wait({ timeout: 5_000 })];
        e.setSync();
        e.clearSync();
        assert.equal(e.isSetSync(), false);
        assert.deepEqual(await Promise.all(waiting), [true, true]);
        assert.equal(e.waitSync({ timeout: 10 }), false);
        e.setSync();
        assert.equal(e.waitSync(), true);
      });
    } else {
      test("Sync twins are refused", async () => {
        await using m = await c.start();
        const e = await m.event();
        assert.throws(() => e.setSync(), TypeError);
        assert.throws(() => e.waitSync(), TypeError);
      });
    }

    if (c.threads) {
      test("4 workers waiting are all released by one set()", { timeout: 60_000 }, async () => {
        await using m = await c.start();
        const e = await m.event();
        const ready = words(1);
        const ws = [0, 1, 2, 3].map((i) => spawn(waitWorker, { args: [e, ready, c.local && i % 2 === 0, 30_000] }));
        await until(ready, 0, 4);
        await e.set();
        assert.deepEqual(await Promise.all(ws.map((w) => w.join())), [true, true, true, true]);
      });
    }
  });
}
