import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CodecError, type Dict, type Lock, spawn } from "../../mod.ts";
import { TRANSPORTS } from "../_transports.ts";

const incrementWorker = new URL("../fixtures/increment_worker.ts", import.meta.url);

for (const t of TRANSPORTS) {
  describe(`Dict over ${t.name}`, () => {
    test("get, set, has, delete, size and defaults", async () => {
      await using m = await t.start();
      const d = await m.dict<string, unknown>({ a: 1 });
      assert.equal(await d.get("a"), 1);
      assert.equal(await d.get("zz"), undefined);
      assert.equal(await d.get("zz", 7), 7);
      await d.set("b", { nested: [1, "x", null], when: new Date(5) });
      assert.deepEqual(await d.get("b"), { nested: [1, "x", null], when: new Date(5) });
      assert.equal(await d.has("b"), true);
      assert.equal(await d.has("c"), false);
      assert.equal(await d.size(), 2);
      assert.equal(await d.delete("b"), true);
      assert.equal(await d.delete("b"), false);
      assert.equal(await d.size(), 1);
    });

    test("keys, values and entries keep insertion order; popItem is LIFO", async () => {
      await using m = await t.start();
      const d = await m.dict<string, number>();
      for (const k of ["x", "a", "m", "b"]) await d.set(k, k.charCodeAt(0));
      await d.delete("a");
      await d.set("x", 0); // overwrite keeps position
      assert.deepEqual(await d.keys(), ["x", "m", "b"]);
      assert.deepEqual(await d.values(), [0, 109, 98]);
      assert.deepEqual(await d.entries(), [["x", 0], ["m", 109], ["b", 98]]);
      assert.deepEqual(await d.popItem(), ["b", 98]);
      assert.deepEqual(await d.toMap(), new Map([["x", 0], ["m", 109]]));
      await d.clear();
      assert.equal(await d.size(), 0);
      assert.equal(await d.popItem(), undefined);
    });

    test("update merges as Python: mapping, Map and pairs, later wins", async () => {
      await using m = await t.start();
      const d = await m.dict<string, number>({ a: 1, b: 2 });
      await d.update({ b: 20, c: 3 });
      await d.update(new Map([["d", 4]]));
      await d.update([["a", 10], ["a", 11]]);
      assert.deepEqual(await d.entries(), [["a", 11], ["b", 20], ["c", 3], ["d", 4]]);
      await assert.rejects(() => d.update([["only-one"]] as never), TypeError);
    });

    test("setDefault, pop, compute and compareAndSet", async () => {
      await using m = await t.start();
      const d = await m.dict<string, number>();
      assert.equal(await d.setDefault("k", 5), 5);
      assert.equal(await d.setDefault("k", 9), 5);
      assert.equal(await d.pop("k"), 5);
      assert.equal(await d.pop("k", -1), -1);
      assert.equal(await d.compute("n", (v) => (v ?? 0) + 1), 1);
      assert.equal(await d.compute("n", (v) => (v ?? 0) + 1), 2);
      assert.equal(await d.compareAndSet("n", 1, 100), false);
      assert.equal(await d.compareAndSet("n", 2, 100), true);
      assert.equal(await d.compareAndSet("new", undefined, 1), true);
      assert.equal(await d.compareAndSet("new", 1, undefined), true);
      assert.equal(await d.has("new"), false);
      assert.equal(await d.get("n"), 100);
    });

    test("keys of any codec type compare by encoding", async () => {
      await using m = await t.start();
      const d = await m.dict<unknown, string>();
      await d.set(1, "int");
      await d.set("1", "str");
      await d.set([1, 2], "array");
      await d.set(10n, "bigint");
      assert.equal(await d.get(1), "int");
      assert.equal(await d.get("1"), "str");
      assert.equal(await d.get([1, 2]), "array");
      assert.equal(await d.get(10n), "bigint");
      assert.equal(await d.size(), 4);
    });

    test("functions and class instances are refused with CodecError", async () => {
      await using m = await t.start();
      const d = await m.dict<string, unknown>();
      await assert.rejects(() => d.set("f", () => 1), CodecError);
      class Point {
        x = 1;
      }
      await assert.rejects(() => d.set("p", new Point()), CodecError);
      assert.equal(await d.size(), 0);
    });

    test("a name opens the same dict", async () => {
      await using m = await t.start();
      const a = await m.dict<string, number>({ v: 1 }, { name: "shared" });
      const b = await m.dict<string, number>(undefined, { name: "shared" });
      await b.set("w", 2);
      assert.deepEqual(await a.entries(), [["v", 1], ["w", 2]]);
    });

    test(`Sync twins ${t.local ? "work" : "are refused"}`, async () => {
      await using m = await t.start();
      const d = await m.dict<string, number>({ a: 1 });
      if (t.local) {
        d.setSync("b", 2);
        assert.equal(d.getSync("b"), 2);
        assert.equal(d.computeSync("b", (v) => (v ?? 0) * 10), 20);
        assert.equal(d.sizeSync(), 2);
      } else {
        assert.throws(() => d.getSync("a"), TypeError);
      }
    });

    test("4 workers x 10,000 locked increments end at exactly 40,000", async () => {
      await using m = await t.start();
      const d: Dict<string, number> = await m.dict<string, number>();
      const lock: Lock = await m.lock();
      const n = 10_000;
      const workers = [0, 1, 2, 3].map(() => spawn(incrementWorker, { args: [d, lock, "hits", n] }));
      const done = await Promise.all(workers.map((w) => w.join()));
      assert.deepEqual(done, [n, n, n, n]);
      assert.equal(await d.get("hits"), 4 * n);
    });
  });
}
