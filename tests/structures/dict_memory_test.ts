import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CapacityError, type Dict, Manager, spawn } from "../../mod.ts";
import { DictEngine } from "../../structures/dict.ts";

describe("Dict memory on the shared buffer", () => {
  test("grows to 1,000,000 entries while a reader in another thread always sees the old ones", async () => {
    await using m = await Manager.start();
    const d: Dict<string, number> = await m.dict<string, number>(undefined, { initialBytes: 64 * 1024 });
    for (let i = 0; i < 1000; i++) d.setSync(`k${i}`, i);
    const flags = new SharedArrayBuffer(8);
    const f = new Int32Array(flags);
    const reader = spawn(new URL("../fixtures/dict_reader_worker.ts", import.meta.url), { args: [d, flags] });
    while (Atomics.load(f, 1) === 0) Atomics.wait(f, 1, 0, 50); // the reader is running
    for (let i = 1000; i < 1_000_000; i++) d.setSync(`n${i}`, i);
    Atomics.store(f, 0, 1);
    const [reads, wrong] = (await reader.join()) as [number, number];
    assert.equal(wrong, 0, `the reader saw ${wrong} wrong values in ${reads} reads`);
    assert.ok(reads > 0);
    assert.equal(d.sizeSync(), 1_000_000);
    assert.equal(d.getSync("n999999"), 999_999);
    assert.equal(d.getSync("k7"), 7);
  });

  test("a churn of 1,000,000 set/delete on 10,000 live keys keeps memory within 4x the live data + 1 MiB", () => {
    const e = DictEngine.create();
    const live = new Map<string, string>();
    let seed = 42;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 10_000; i++) {
      const k = `key-${i}`, v = "v".repeat(1 + (i % 40));
      e.set(k, v);
      live.set(k, v);
    }
    for (let op = 0; op < 1_000_000; op++) {
      const k = `key-${Math.floor(rnd() * 20_000)}`;
      if (rnd() < 0.5) {
        const v = "v".repeat(1 + Math.floor(rnd() * 40));
        e.set(k, v);
        live.set(k, v);
      } else {
        assert.equal(e.delete(k), live.delete(k));
      }
    }
    assert.equal(e.size(), live.size);
    let liveBytes = 0;
    for (const [k, v] of live) liveBytes += 8 + k.length + 1 + v.length + 1 + 8; // entry header + key + value + slot
    const { byteLength, bytesInUse } = e.stats();
    assert.ok(bytesInUse <= 4 * liveBytes, `in use ${bytesInUse} > 4 x live ${liveBytes}`);
    assert.ok(byteLength <= 4 * liveBytes + (1 << 20), `buffer ${byteLength} > 4 x live ${liveBytes} + 1 MiB`);
    for (const [k, v] of live) assert.equal(e.get(k), v);
  });

  test("at maxBytes a write fails with CapacityError and nothing stored is lost", async () => {
    await using m = await Manager.start();
    const d = await m.dict<string, string>(undefined, { maxBytes: 256 * 1024, initialBytes: 64 * 1024 });
    const stored = new Map<string, string>();
    let failed: unknown;
    for (let i = 0; i < 100_000; i++) {
      try {
        d.setSync(`k${i}`, `value-${i}`);
        stored.set(`k${i}`, `value-${i}`);
      } catch (e) {
        failed = e;
        break;
      }
    }
    assert.ok(failed instanceof CapacityError, `expected CapacityError, got ${failed}`);
    assert.ok(stored.size > 1000);
    // a bigger value for an existing key fails too, keeping the old value
    const [k0, v0] = stored.entries().next().value!;
    assert.throws(() => d.setSync(k0, "x".repeat(200_000)), CapacityError);
    assert.equal(d.getSync(k0), v0);
    assert.equal(d.sizeSync(), stored.size);
    for (const [k, v] of stored) assert.equal(d.getSync(k), v);
    // deleting makes room again
    for (let i = 0; i < 500; i++) d.deleteSync(`k${i}`);
    d.setSync("after", "room");
    assert.equal(d.getSync("after"), "room");
  });

  test("maxBytes is validated", async () => {
    await using m = await Manager.start();
    await assert.rejects(() => m.dict(undefined, { maxBytes: -5 }), TypeError);
  });
});
