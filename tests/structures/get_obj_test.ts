/**
 * `Value.getObj()` and `SharedArray.getObj()` (Python's `get_obj()`): the
 * raw object behind a synchronized one, on every transport.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RawArray, RawValue, SharedArray, Value } from "../../mod.ts";
import { TRANSPORTS } from "../_transports.ts";

for (const t of TRANSPORTS) {
  describe(`getObj over ${t.name}`, () => {
    test("Value.getObj() is a RawValue of the same value, without a lock, the same on every call", async () => {
      await using m = await t.start();
      const v = await m.value("q", 5n);
      assert.ok(v instanceof Value);
      const raw = v.getObj();
      assert.ok(raw instanceof RawValue && !(raw instanceof Value));
      assert.equal(v.getObj(), raw);
      assert.equal(raw.typecode, "i64");
      await raw.store(9n);
      assert.equal(await v.load(), 9n);
      assert.equal(await raw.add(1n), 9n);
      assert.equal(await v.load(), 10n);
      await v.getLock().withLock(async () => await raw.store(11n)); // the lock is the Value's alone
      assert.equal(await raw.load(), 11n);
      if (t.local) {
        raw.value = 12n;
        assert.equal(v.value, 12n);
      }
      const unlocked = await m.value("i32", 1, { lock: false });
      assert.equal("getObj" in unlocked, false); // a RawValue has none, as in Python
    });

    test("SharedArray.getObj() is a RawArray of the same elements", async () => {
      await using m = await t.start();
      const xs = await m.array("d", [1, 2, 3]);
      assert.ok(xs instanceof SharedArray);
      const raw = xs.getObj();
      assert.ok(raw instanceof RawArray && !(raw instanceof SharedArray));
      assert.equal(xs.getObj(), raw);
      assert.equal(raw.length, 3);
      await raw.set(-1, 7.5);
      assert.deepEqual(await xs.toArray(), [1, 2, 7.5]);
      await xs.add(0, 1);
      assert.deepEqual(await raw.slice(0, 2), [2, 2]);
      if (t.local) {
        raw.view[1] = 4;
        assert.equal(xs.getSync(1), 4);
      } else assert.throws(() => raw.view, TypeError);
    });
  });
}
