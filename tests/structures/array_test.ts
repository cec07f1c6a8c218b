import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "../../process/spawn.ts";
import { attach } from "../../attach.ts";
import "../../transports/shared_buffer.ts";
import { Lock } from "../../sync/lock.ts";
import { RawArray, SharedArray } from "../../structures/array.ts";
import { openRemote } from "./fixtures_vals/in_process_remote.ts";

const fixture = (name: string) => new URL(`./fixtures_vals/${name}.ts`, import.meta.url);

describe("SharedArray and RawArray", () => {
  test("from a length (zeros) or from values; the view is the typed array of the type", () => {
    const zeros = SharedArray.create("i", 3);
    assert.equal(zeros.length, 3);
    assert.equal(zeros.typecode, "i32");
    assert.deepEqual(zeros.toArraySync(), [0, 0, 0]);
    assert.ok(zeros.view instanceof Int32Array);
    const views: Array<[RawArray, unknown]> = [
      [RawArray.create("b", 1), Int8Array],
      [RawArray.create("B", 1), Uint8Array],
      [RawArray.create("h", 1), Int16Array],
      [RawArray.create("H", 1), Uint16Array],
      [RawArray.create("I", 1), Uint32Array],
      [RawArray.create("q", 1), BigInt64Array],
      [RawArray.create("u64", 1), BigUint64Array],
      [RawArray.create("f", 1), Float32Array],
      [RawArray.create("d", 1), Float64Array],
      [RawArray.create("?", 1), Uint8Array],
    ];
    for (const [a, Ctor] of views) assert.ok(a.view instanceof (Ctor as typeof Int8Array), a.typecode);
    const fromIter = RawArray.create("d", new Set([0.5, 1.5]));
    assert.deepEqual(fromIter.toArraySync(), [0.5, 1.5]);
    const fromTyped = RawArray.create("q", new BigInt64Array([1n, -2n]));
    assert.deepEqual(fromTyped.toArraySync(), [1n, -2n]);
    const bools = RawArray.create("bool", [true, false, true]);
    assert.deepEqual(bools.toArraySync(), [true, false, true]);
    assert.deepEqual([...bools.view], [1, 0, 1]);
    assert.equal(RawArray.create("i", 0).length, 0);
  });

  test("bad sizes, values and type codes are TypeErrors; out-of-range values RangeErrors", () => {
    assert.throws(() => SharedArray.create("i", -1), TypeError);
    assert.throws(() => SharedArray.create("i", 1.5), TypeError);
    assert.throws(() => SharedArray.create("i", 2 ** 32), TypeError);
    assert.throws(() => SharedArray.create("i", "3" as never), TypeError);
    assert.throws(() => SharedArray.create("z" as never, 3), TypeError);
    assert.throws(() => SharedArray.create("B", [1, 256]), RangeError);
    assert.throws(() => SharedArray.create("i", [1, "2" as never]), TypeError);
  });

  test("get and set by index, negative from the end, out of range a RangeError", async () => {
    const a = SharedArray.create("i16", [10, 20, 30]);
    assert.equal(await a.get(0), 10);
    assert.equal(await a.get(-1), 30);
    await a.set(-2, 21);
    assert.equal(a.getSync(1), 21);
    a.setSync(2, -32768);
    assert.equal(a.view[2], -32768);
    assert.throws(() => a.getSync(3), RangeError);
    assert.throws(() => a.getSync(-4), RangeError);
    assert.throws(() => a.getSync(0.5), TypeError);
    assert.throws(() => a.setSync(0, 40000), RangeError);
    assert.equal(a.getSync(0), 10);
  });

  test("slice, toArray, fill and setSlice; setSlice checks every value first", async () => {
    const a = RawArray.create("d", 5);
    await a.fill(1.5);
    assert.deepEqual(await a.toArray(), [1.5, 1.5, 1.5, 1.5, 1.5]);
    a.fillSync(0, 1, -1);
    assert.deepEqual(a.sliceSync(), [1.5, 0, 0, 0, 1.5]);
    await a.setSlice(1, [2, 3]);
    assert.deepEqual(await a.slice(1, 3), [2, 3]);
    assert.deepEqual(a.sliceSync(-2), [0, 1.5]);
    assert.deepEqual(a.sliceSync(4, 2), []);
    assert.throws(() => a.setSliceSync(4, [1, 2]), RangeError);
    const b = RawArray.create("u8", 3);
    assert.throws(() => b.setSliceSync(0, [1, 2, 300]), RangeError);
    assert.deepEqual(b.toArraySync(), [0, 0, 0], "nothing stored");
    b.setSliceSync(-2, [7, 8]);
    assert.deepEqual(b.toArraySync(), [0, 7, 8]);
    b.setSliceSync(3, []);
  });

  test("per-element atomics: add, exchange, compareExchange", async () => {
    const a = SharedArray.create("u32", 2);
    assert.equal(await a.add(0, 5), 0);
    assert.equal(a.addSync(0, -6), 5);
    assert.equal(a.getSync(0), 2 ** 32 - 1, "wraps");
    assert.equal(await a.compareExchange(1, 1, 9), 0);
    assert.equal(a.getSync(1), 0);
    assert.equal(a.compareExchangeSync(1, 0, 9), 0);
    assert.equal(a.exchangeSync(1, 4), 9);
    const f = RawArray.create("f32", [0.25]);
    assert.equal(f.addSync(0, 0.5), 0.25);
    assert.equal(f.getSync(0), 0.75);
    const flags = RawArray.create("?", 2);
    assert.equal(flags.compareExchangeSync(1, false, true), false);
    assert.deepEqual(flags.toArraySync(), [false, true]);
    assert.throws(() => flags.addSync(0, true as never), TypeError);
  });

  test("getLock on SharedArray, shared on request; RawArray has none", async () => {
    const a = SharedArray.create("i", 2);
    assert.ok(a.getLock() instanceof Lock);
    const b = SharedArray.create("i", 2, { lock: a.getLock() });
    assert.equal(b.getLock(), a.getLock());
    const snapshot = await a.getLock().withLock(async () => {
      await a.setSlice(0, [1, 2]);
      return a.toArray();
    });
    assert.deepEqual(snapshot, [1, 2]);
    assert.equal("getLock" in RawArray.create("i", 1), false);
  });

  test("attach(handle) gives the same memory", async () => {
    const a = SharedArray.create("q", [1n, 2n]);
    const again = await attach<SharedArray<"q">>(a.handle);
    assert.ok(again instanceof SharedArray);
    assert.equal(again.length, 2);
    again.addSync(1, 40n);
    assert.equal(a.getSync(1), 42n);
    const raw = await attach<RawArray<"i">>(RawArray.create("i", [7]).handle);
    assert.ok(!(raw instanceof SharedArray));
    assert.deepEqual(raw.toArraySync(), [7]);
  });

  test("remote operations through the engine host", async () => {
    const a = await openRemote<SharedArray<"L">>("array", undefined, ["L", [1, 2, 3], { lock: true }]);
    assert.ok(a instanceof SharedArray);
    assert.equal(a.length, 3);
    assert.equal(a.typecode, "u64");
    assert.deepEqual(await a.toArray(), [1n, 2n, 3n]);
    assert.equal(await a.get(-1), 3n);
    await a.set(0, 10n);
    assert.equal(await a.add(0, 5), 10n);
    assert.equal(await a.compareExchange(0, 15n, 0n), 15n);
    assert.equal(await a.exchange(1, 7n), 2n);
    await a.fill(9n, 2);
    await a.setSlice(0, [4n]);
    assert.deepEqual(await a.slice(), [4n, 7n, 9n]);
    await assert.rejects(() => a.get(3), RangeError);
    assert.throws(() => a.view, TypeError, "no view remotely");
    assert.throws(() => a.getSync(0), TypeError);
    const p = await a.getLock().acquire();
    assert.equal(await a.getLock().locked(), true);
    await p.release();
    const raw = await openRemote<RawArray<"d">>("array", undefined, ["d", 2, { lock: false }]);
    assert.ok(!(raw instanceof SharedArray));
    assert.deepEqual(await raw.toArray(), [0, 0]);
  });

  test("4 workers: element-wise atomic adds end exact, compareExchange claims each slot once", async () => {
    const rounds = 5_000;
    const counts = SharedArray.create("i32", 8);
    const owners = RawArray.create("u16", 1000);
    const ws = [1, 2, 3, 4].map((me) => spawn(fixture("array_atomics"), { args: [counts, owners, rounds, me] }));
    const claimed = (await Promise.all(ws.map((w) => w.join()))) as number[][];
    assert.deepEqual(counts.toArraySync(), new Array(8).fill(4 * rounds));
    const all = claimed.flat().sort((x, y) => x - y);
    assert.deepEqual(all, Array.from({ length: 1000 }, (_, i) => i), "every slot claimed exactly once");
    claimed.forEach((mine, k) => {
      for (const i of mine) assert.equal(owners.getSync(i), k + 1);
    });
  });
});
