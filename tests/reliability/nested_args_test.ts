/**
 * Structures travel as handles at any depth of arrays and plain objects, in
 * spawn's arguments and in the result, and arrive attached — for threads and
 * for processes (issue 8, item 9; CPython passes proxies inside lists and dicts).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "../../process/mod.ts";
import { Dict } from "../../structures/dict.ts";
import type nested from "../fixtures/nested_structures.ts";
import { TRANSPORTS } from "../_transports.ts";

const fixture = new URL("../fixtures/nested_structures.ts", import.meta.url);

for (const t of TRANSPORTS) {
  for (const as of t.local ? ["thread"] as const : ["thread", "process"] as const) {
    describe(`nested structures in spawn args, ${t.name}, ${as}`, () => {
      test("arrive attached at any depth, and come back attached", async () => {
        await using m = await t.start();
        const d = await m.dict<string, number>();
        const lock = await m.lock();
        const back = await spawn<typeof nested>(fixture, { args: [{ pair: [d, { lock }], n: 7 }], as }).join();
        assert.equal(await d.get("from-worker"), 7);
        assert.ok(back.out[0].d instanceof Dict, "the nested result was attached here");
        assert.equal(await back.out[0].d.get("from-worker"), 7);
      });
    });
  }
}
