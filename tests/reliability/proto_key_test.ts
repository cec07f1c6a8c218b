/**
 * An object with an own `"__proto__"` key cannot round-trip through cbor-x
 * (its decoder renames the key to `"__proto_"`, its guard against prototype
 * pollution), so procshare refuses to encode one with a `CodecError` instead
 * of storing an altered value. The string `"__proto__"` as a dict key, a
 * namespace attribute or a Map key is data like any other and round-trips.
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CodecError } from "../../mod.ts";
import { TRANSPORTS } from "../_transports.ts";

const refused = (e: unknown): boolean =>
  e instanceof CodecError && e.reason === "Unsupported" && /"__proto__"/.test(e.message);

for (const t of TRANSPORTS) {
  describe(`"__proto__" keys, ${t.name}`, () => {
    it("refuses an object with an own __proto__ key at any depth, and stores nothing", async () => {
      await using m = await t.start();
      const d = await m.dict<string, unknown>();
      const top = JSON.parse('{"__proto__": 1, "a": 2}');
      const deep = JSON.parse('{"a": [{"b": {"__proto__": {"x": 2}}}]}');
      await assert.rejects(() => d.set("k", top), refused);
      await assert.rejects(() => d.set("k", deep), refused);
      await assert.rejects(() => d.set(top as never, 1), refused);
      assert.equal(await d.size(), 0);
      const q = await m.queue();
      await assert.rejects(() => q.put(deep), refused);
      assert.equal(await q.qsize(), 0);
      const l = await m.list();
      await assert.rejects(() => l.append(top), refused);
      assert.equal(await l.length(), 0);
    });

    it("round-trips __proto__ as a string key, an attribute and a Map key", async () => {
      await using m = await t.start();
      const d = await m.dict<string, unknown>();
      await d.set("__proto__", { a: 1 });
      assert.deepEqual(await d.keys(), ["__proto__"]);
      assert.deepEqual(await d.get("__proto__"), { a: 1 });
      const map = new Map<string, number>([["__proto__", 1], ["b", 2]]);
      await d.set("m", map);
      assert.deepEqual(await d.get("m"), map);
      const ns = await m.namespace();
      await ns.set("__proto__", 5);
      assert.equal(await ns.get("__proto__"), 5);
      // an object whose prototype was set (not an own key) is plain data: only its own keys travel
      const viaLiteral = { __proto__: null, a: 1 } as unknown as Record<string, number>;
      await d.set("n", viaLiteral);
      assert.deepEqual({ ...(await d.get("n") as object) }, { a: 1 });
    });
  });
}
