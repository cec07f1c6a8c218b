/**
 * Printing or serialising a manager, a structure or its handle never shows
 * the authkey's bytes, on every transport and inspector; handles that cross
 * to a child process still work.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { spawn } from "../process/mod.ts";
import { PIPE, TRANSPORTS } from "./_transports.ts";

/** Every way a user may print a value in the runtime running this test. */
function printings(v: unknown): string[] {
  const g = globalThis as { Deno?: { inspect(v: unknown): string }; Bun?: { inspect(v: unknown): string } };
  const out = [inspect(v), inspect(v, { depth: Infinity, showHidden: true }), JSON.stringify(v), String(v)];
  if (g.Deno) out.push(g.Deno.inspect(v));
  if (g.Bun) out.push(g.Bun.inspect(v));
  return out;
}

/** Forms the key's bytes could take in printed text. */
function keyForms(key: Uint8Array): string[] {
  const bytes = [...key];
  return [
    bytes.map((b) => b.toString(16).padStart(2, "0")).join(""),
    bytes.slice(0, 6).join(", "),
    bytes.slice(0, 6).join(","),
    bytes.slice(0, 6).map((b) => b.toString(16).padStart(2, "0")).join(" "),
  ];
}

function assertNoKey(text: string, key: Uint8Array, what: string): void {
  for (const form of keyForms(key)) assert.ok(!text.includes(form), `${what} shows the authkey (${form}): ${text}`);
}

for (const t of [...TRANSPORTS, PIPE]) {
  describe(`authkey never printed, ${t.name}`, () => {
    test("manager, structures and handles print and serialise without key bytes", async () => {
      await using m = await t.start();
      const d = await m.dict<string, number>({ a: 1 });
      const lock = await m.lock();
      const key = m.authkey;
      if (t.local || t.keyless) {
        assert.equal(key, undefined);
        return;
      }
      assert.ok(key instanceof Uint8Array && key.length >= 16);
      for (const v of [m, d, lock, d.handle, lock.handle, { nested: [d.handle] }, key]) {
        for (const text of printings(v)) assertNoKey(text, key, inspect(v).slice(0, 20));
      }
      assert.match(JSON.stringify(d.handle), /"authkey":"\[redacted\]"/);
    });

    if (!t.local) {
      test("a handle that crossed to a child process still works and prints no key", async () => {
        await using m = await t.start();
        const d = await m.dict<string, string>();
        const printed = await spawn<(d: unknown) => Promise<string>>(
          new URL("./fixtures/print_and_set.ts", import.meta.url),
          { args: [d], as: "process" },
        ).join();
        assert.equal(await d.get("from"), "child");
        if (!t.keyless) assertNoKey(printed, m.authkey!, "the child's printing");
      });
    }
  });
}
