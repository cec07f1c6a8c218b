import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "../../mod.ts";
import { TRANSPORTS } from "../_transports.ts";

for (const t of TRANSPORTS) {
  describe(`Namespace over ${t.name}`, () => {
    test("get, set, delete, has and toObject", async () => {
      await using m = await t.start();
      const ns = await m.namespace({ x: 1 });
      assert.equal(await ns.get("x"), 1);
      await ns.set("y", { deep: [1, 2] });
      assert.deepEqual(await ns.get("y"), { deep: [1, 2] });
      assert.equal(await ns.has("y"), true);
      assert.equal(await ns.delete("y"), true);
      assert.equal(await ns.has("y"), false);
      assert.equal(await ns.get("missing"), undefined);
      assert.deepEqual(await ns.toObject(), { x: 1 });
      await assert.rejects(() => ns.set("", 1), TypeError);
    });

    test("update replaces the attributes atomically and deletes what it drops", async () => {
      await using m = await t.start();
      const ns = await m.namespace({ a: 1, b: 2, gone: true });
      const next = await ns.update(({ a, b }) => ({ a: (a as number) + 1, b, c: 3 }));
      assert.deepEqual(next, { a: 2, b: 2, c: 3 });
      assert.deepEqual(await ns.toObject(), { a: 2, b: 2, c: 3 });
      await assert.rejects(() => ns.update(() => 5 as never), TypeError);
    });

    test("4 workers' concurrent updates lose nothing: a + b stays constant", async () => {
      await using m = await t.start();
      const ns = await m.namespace({ a: 10_000, b: 0 });
      const n = t.local ? 2000 : 300;
      await Promise.all(
        [0, 1, 2, 3].map(() =>
          spawn(new URL("../fixtures/namespace_worker.ts", import.meta.url), { args: [ns, n] }).join()
        ),
      );
      assert.deepEqual(await ns.toObject(), { a: 10_000 - 4 * n, b: 4 * n });
    });
  });
}
