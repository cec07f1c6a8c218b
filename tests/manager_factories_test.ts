import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { skipBecause, TRANSPORTS } from "./_transports.ts";

for (const t of TRANSPORTS) {
  describe(`Manager factories over ${t.name}`, () => {
    test("value, array, sharedMemory and shareableList", async (ctx) => {
      await using m = await t.start();
      const v = await m.value("i", 5);
      assert.equal(await v.add(2), 5);
      assert.equal(await v.load(), 7);
      const raw = await m.value("d", 1.5, { lock: false });
      await raw.store(2.5);
      assert.equal(await raw.load(), 2.5);
      const a = await m.array("f64", [1, 2, 3]);
      await a.set(1, 20);
      assert.deepEqual(await a.toArray(), [1, 20, 3]);
      const named = await m.value("i32", 1, { name: "counter" });
      const again = await m.value("i32", undefined, { name: "counter" });
      await again.add(1);
      assert.equal(await named.load(), 2);
      const pending = t.pending?.["shareable-list"];
      if (pending !== undefined) return skipBecause(ctx, pending);
      const sl = await m.shareableList(["a", 1, true, null]);
      assert.equal(await sl.get(0), "a");
      assert.equal(sl.length, 4);
    });
  });
}
