/**
 * SharedSet (`m.set()`, Python's SetProxy) on every transport: members by
 * encoding, set operations returning plain Sets, iteration, names, and
 * threads adding at once.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { attach, SharedSet, spawn } from "../../mod.ts";
import { TRANSPORTS } from "../_transports.ts";

const adder = new URL("../fixtures/set_adder_worker.ts", import.meta.url);

for (const t of TRANSPORTS) {
  describe(`SharedSet over ${t.name}`, () => {
    test("add, discard, has and size; members are equal when their encodings are", async () => {
      await using m = await t.start();
      const s = await m.set<unknown>([1, 1, "1", { a: [1] }]);
      assert.ok(s instanceof SharedSet);
      assert.equal(await s.size(), 3);
      await s.add({ a: [1] }); // equal to a member: no new one
      await s.add(2n);
      assert.equal(await s.size(), 4);
      assert.equal(await s.has({ a: [1] }), true);
      assert.equal(await s.has({ a: [2] }), false);
      assert.equal(await s.has(2n), true);
      assert.equal(await s.discard(1), true);
      assert.equal(await s.discard(1), false);
      assert.deepEqual(await s.values(), ["1", { a: [1] }, 2n]);
      await s.clear();
      assert.equal(await s.size(), 0);
    });

    test("union, intersection and difference return plain Sets, with any iterable or another SharedSet", async () => {
      await using m = await t.start();
      const a = await m.set<number | { k: number }>([1, 2, 3, { k: 1 }]);
      const b = await m.set<number | { k: number }>([3, 4, { k: 1 }]);
      const u = await a.union(b);
      assert.ok(u instanceof Set);
      assert.deepEqual([...u], [1, 2, 3, { k: 1 }, 4]);
      assert.deepEqual([...await a.intersection(b)], [3, { k: 1 }]);
      assert.deepEqual([...await a.difference(b)], [1, 2]);
      assert.deepEqual([...await a.union(new Set([9, 9, 1]))], [1, 2, 3, { k: 1 }, 9]);
      assert.deepEqual([...await a.intersection([])], []);
      assert.deepEqual([...await a.difference([{ k: 1 }, 2])], [1, 3]);
      await a.update(b);
      assert.equal(await a.size(), 5);
      await assert.rejects(() => a.union(3 as unknown as number[]), TypeError);
      if (t.local) {
        assert.deepEqual([...a.intersectionSync([4, 5])], [4]);
        assert.deepEqual([...a.unionSync(b)], [...(await a.toSet())]);
        assert.deepEqual([...a.differenceSync(b)], [1, 2]);
        a.addSync(6);
        assert.equal(a.discardSync(6), true);
        assert.equal(a.hasSync(6), false);
        a.updateSync([7]);
        assert.equal(a.sizeSync(), 6);
        assert.deepEqual(a.toSetSync(), await a.toSet());
        a.clearSync();
        assert.deepEqual(a.valuesSync(), []);
      } else assert.throws(() => a.sizeSync(), TypeError);
    });

    test("for await yields a snapshot of the members in insertion order", async () => {
      await using m = await t.start();
      const s = await m.set<string>(["x", "y"]);
      const seen: string[] = [];
      for await (const x of s) {
        seen.push(x);
        await s.add(x + x); // not in the snapshot
      }
      assert.deepEqual(seen, ["x", "y"]);
      assert.equal(await s.size(), 4);
    });

    test("a named set is found by name; a handle attaches to the same set", async () => {
      await using m = await t.start();
      const a = await m.set<number>([1], { name: `tags-${process.pid}` });
      const b = await m.set<number>(undefined, { name: `tags-${process.pid}` });
      await b.add(2);
      const c = await attach<SharedSet<number>>(a.handle);
      assert.deepEqual(await c.values(), [1, 2]);
    });

    // the engine is a Dict's, whose concurrency its own tests cover: one thread against this one, where they share memory
    if (t.name === "shared-buffer") {
      test("a worker thread and this thread add overlapping ranges: every member once", async () => {
        await using m = await t.start();
        const s = await m.set<number>();
        const w = spawn(adder, { args: [s, 0, 200] });
        for (let i = 100; i < 300; i++) await s.add(i);
        await w.join();
        assert.equal(await s.size(), 300);
        assert.deepEqual((await s.values()).sort((x, y) => x - y), Array.from({ length: 300 }, (_, i) => i));
      });
    }
  });
}
