/**
 * Async iteration of Dict and List, and List's `reversed`, on every
 * transport (issue 10, item 8: Python's `for k, v in d.items()`,
 * `for x in l`, `reversed(l)` on manager proxies).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ITERATION_PAGE } from "../../structures/list.ts";
import { TRANSPORTS } from "../_transports.ts";

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

for (const t of TRANSPORTS) {
  describe(`iteration over ${t.name}`, () => {
    test("for await over a dict yields its entries in insertion order", async () => {
      await using m = await t.start();
      const d = await m.dict<string, unknown>({ b: 1, a: { x: [1, 2] } });
      await d.set("c", "three");
      await d.delete("b");
      assert.deepEqual(await collect(d), [["a", { x: [1, 2] }], ["c", "three"]]);
      assert.deepEqual(await collect(await m.dict()), []);
    });

    test("a dict changed while iterated: the loop sees the snapshot it started with, and does not fail", async () => {
      await using m = await t.start();
      const d = await m.dict<number, number>([[1, 1], [2, 2], [3, 3]]);
      const seen: number[] = [];
      for await (const [k] of d) {
        seen.push(k);
        await d.delete(k + 1);
        await d.set(k + 10, 0);
      }
      assert.deepEqual(seen, [1, 2, 3]);
      assert.deepEqual(await d.keys(), [1, 11, 12, 13]);
    });

    test("for await over a list yields every item across pages, and sees items appended meanwhile", async () => {
      await using m = await t.start();
      const n = ITERATION_PAGE * 2 + 5;
      const xs = await m.list<number>(Array.from({ length: n }, (_, i) => i));
      const seen: number[] = [];
      for await (const x of xs) {
        seen.push(x);
        if (x === 0) await xs.append(n); // Python's ListProxy iteration sees it too
      }
      assert.deepEqual(seen, Array.from({ length: n + 1 }, (_, i) => i));
      assert.deepEqual(await collect(await m.list()), []);
      const exact = await m.list<number>(Array.from({ length: ITERATION_PAGE }, (_, i) => i));
      assert.equal((await collect(exact)).length, ITERATION_PAGE);
    });

    test("reversed(list) yields a snapshot from the last item to the first", async () => {
      await using m = await t.start();
      const xs = await m.list<string>(["a", "b", "c"]);
      const seen: string[] = [];
      for await (const x of xs.reversed()) {
        seen.push(x);
        await xs.append("z"); // not in the snapshot
      }
      assert.deepEqual(seen, ["c", "b", "a"]);
      assert.deepEqual(await collect((await m.list()).reversed()), []);
      if (t.local) assert.deepEqual([...xs.reversedSync()].slice(0, 4), ["z", "z", "z", "c"]);
      else assert.throws(() => xs.reversedSync(), TypeError);
    });
  });
}
