/**
 * Model-based tests: random command sequences run against a structure and
 * against a plain in-memory model must give the same answers.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { QueueError } from "../../mod.ts";
import { TRANSPORTS } from "../_transports.ts";

const key = fc.oneof(fc.string({ maxLength: 6 }), fc.integer({ min: -5, max: 50 }));
const value = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 3, noNullPrototype: true }),
  fc.string({ minLength: 100, maxLength: 400 }),
);

type DictCmd =
  | { op: "set"; k: string | number; v: unknown }
  | { op: "get"; k: string | number }
  | { op: "delete"; k: string | number }
  | { op: "pop"; k: string | number }
  | { op: "setDefault"; k: string | number; v: unknown }
  | { op: "popItem" }
  | { op: "clear" }
  | { op: "update"; pairs: Array<[string | number, unknown]> };

const dictCmd: fc.Arbitrary<DictCmd> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant("set" as const), k: key, v: value }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("get" as const), k: key }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("delete" as const), k: key }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("pop" as const), k: key }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("setDefault" as const), k: key, v: value }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("popItem" as const) }) },
  { weight: 1, arbitrary: fc.constantFrom({ op: "clear" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("update" as const),
      pairs: fc.array(fc.tuple(key, value), { maxLength: 5 }),
    }),
  },
);

/** -0 encodes as 0 in CBOR, as in the model's Map where -0 and 0 are one key. */
const norm = (v: unknown) => (Object.is(v, -0) ? 0 : v);

for (const t of TRANSPORTS) {
  const runs = t.local ? 60 : 12;
  describe(`model-based over ${t.name}`, () => {
    test("Dict behaves as a Map that keeps insertion order", async () => {
      await using m = await t.start();
      await fc.assert(
        fc.asyncProperty(fc.array(dictCmd, { maxLength: t.local ? 120 : 40 }), async (cmds) => {
          const d = await m.dict<string | number, unknown>();
          const model = new Map<string | number, unknown>();
          for (const c of cmds) {
            switch (c.op) {
              case "set":
                await d.set(c.k, c.v);
                model.set(c.k, norm(c.v));
                break;
              case "get":
                assert.deepEqual(await d.get(c.k), model.get(c.k));
                break;
              case "delete":
                assert.equal(await d.delete(c.k), model.delete(c.k));
                break;
              case "pop": {
                const expected = model.get(c.k);
                model.delete(c.k);
                assert.deepEqual(await d.pop(c.k), expected);
                break;
              }
              case "setDefault": {
                if (!model.has(c.k)) model.set(c.k, norm(c.v));
                assert.deepEqual(await d.setDefault(c.k, c.v), model.get(c.k));
                break;
              }
              case "popItem": {
                const last = [...model.entries()].at(-1);
                if (last) model.delete(last[0]);
                assert.deepEqual(await d.popItem(), last);
                break;
              }
              case "clear":
                await d.clear();
                model.clear();
                break;
              case "update":
                await d.update(c.pairs);
                for (const [k, v] of c.pairs) model.set(k, norm(v));
                break;
            }
          }
          assert.deepEqual(await d.entries(), [...model.entries()]);
          assert.equal(await d.size(), model.size);
        }),
        { numRuns: runs },
      );
    });

    test("Queue behaves as a bounded array FIFO", async () => {
      await using m = await t.start();
      const qCmd = fc.oneof(
        fc.record({ op: fc.constant("put" as const), v: value }),
        fc.record({ op: fc.constant("get" as const) }),
        fc.record({ op: fc.constant("qsize" as const) }),
      );
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 5 }), fc.array(qCmd, { maxLength: 60 }), async (maxsize, cmds) => {
          const q = await m.queue<unknown>(maxsize);
          const model: unknown[] = [];
          for (const c of cmds) {
            if (c.op === "put") {
              if (maxsize > 0 && model.length >= maxsize) {
                await assert.rejects(() => q.putNowait(c.v), (e) => e instanceof QueueError && e.reason === "Full");
              } else {
                await q.putNowait(c.v);
                model.push(norm(c.v));
              }
            } else if (c.op === "get") {
              if (model.length === 0) {
                await assert.rejects(() => q.getNowait(), (e) => e instanceof QueueError && e.reason === "Empty");
              } else assert.deepEqual(await q.getNowait(), model.shift());
            } else {
              assert.equal(await q.qsize(), model.length);
              assert.equal(await q.full(), maxsize > 0 && model.length >= maxsize);
            }
          }
        }),
        { numRuns: runs },
      );
    });

    test("Namespace behaves as a plain object", async () => {
      await using m = await t.start();
      const name = fc.constantFrom("a", "b", "c", "d");
      const nsCmd = fc.oneof(
        fc.record({ op: fc.constant("set" as const), k: name, v: value }),
        fc.record({ op: fc.constant("delete" as const), k: name }),
        fc.record({ op: fc.constant("get" as const), k: name }),
        fc.record({ op: fc.constant("bump" as const) }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(nsCmd, { maxLength: 40 }), async (cmds) => {
          const ns = await m.namespace();
          const model: Record<string, unknown> = {};
          for (const c of cmds) {
            if (c.op === "set") {
              await ns.set(c.k, c.v);
              model[c.k] = norm(c.v);
            } else if (c.op === "delete") {
              assert.equal(await ns.delete(c.k), c.k in model);
              delete model[c.k];
            } else if (c.op === "get") {
              assert.deepEqual(await ns.get(c.k), model[c.k]);
            } else {
              const bump = (o: Record<string, unknown>) => ({ ...o, n: typeof o.n === "number" ? o.n + 1 : 0 });
              await ns.update(bump);
              Object.assign(model, bump(model));
            }
          }
          const got = await ns.toObject();
          assert.deepEqual(Object.keys(got).sort(), Object.keys(model).sort());
          for (const k of Object.keys(model)) assert.deepEqual(got[k], model[k]);
        }),
        { numRuns: runs },
      );
    });
  });
}
