import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CapacityError, CodecError, spawn } from "../../mod.ts";
import { ListEngine } from "../../structures/list.ts";
import { encode } from "../../transports/_codec.ts";
import { TRANSPORTS as LIST_CASES } from "../_transports.ts";
import type { ReaderReport } from "./fixtures_list/reader_worker.ts";

const appendWorker = new URL("./fixtures_list/append_worker.ts", import.meta.url);
const churnWorker = new URL("./fixtures_list/churn_worker.ts", import.meta.url);
const writerWorker = new URL("./fixtures_list/writer_worker.ts", import.meta.url);
const readerWorker = new URL("./fixtures_list/reader_worker.ts", import.meta.url);

/** CPython's slicing, written from `PySlice_AdjustIndices` independently of the engine's. */
function pySlice<T>(xs: readonly T[], start?: number, stop?: number, step = 1): T[] {
  const n = xs.length, out: T[] = [];
  if (step > 0) {
    let a = start ?? 0, b = stop ?? n;
    if (a < 0) a = Math.max(0, a + n);
    if (b < 0) b = Math.max(0, b + n);
    a = Math.min(a, n);
    b = Math.min(b, n);
    for (let i = a; i < b; i += step) out.push(xs[i]);
  } else {
    let a = start ?? n - 1, b = stop ?? -1;
    if (start !== undefined && a < 0) a = Math.max(-1, a + n);
    if (stop !== undefined && b < 0) b = Math.max(-1, b + n);
    a = Math.min(a, n - 1);
    b = Math.min(b, n - 1);
    for (let i = a; i > b; i += step) out.push(xs[i]);
  }
  return out;
}

/** Waits, without blocking this thread, until `i32[index] >= value`. */
async function until(i32: Int32Array, index: number, value: number, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let v = Atomics.load(i32, index); v < value; v = Atomics.load(i32, index)) {
    if (performance.now() > deadline) throw new Error(`word ${index} stayed at ${v}, below ${value}`);
    const r = Atomics.waitAsync(i32, index, v, 50);
    let timer: ReturnType<typeof setTimeout> | undefined;
    // a pending waitAsync does not keep Node's loop alive; the timer does
    if (r.async) await Promise.race([r.value, new Promise((res) => (timer = setTimeout(res, 51)))]);
    clearTimeout(timer);
  }
}

/** A seeded xorshift32 generator: the same run on every runtime. */
function rng(seed: number): (n: number) => number {
  let x = seed | 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

const isRange = (e: unknown) => e instanceof RangeError;

for (const t of LIST_CASES) {
  describe(`List over ${t.name}`, () => {
    test("append, get, set, length; negative indices; out of range is a RangeError", async () => {
      await using m = await t.start();
      const l = await m.list<unknown>([1, "two"]);
      await l.append({ three: [3] });
      assert.equal(await l.length(), 3);
      assert.equal(await l.get(0), 1);
      assert.deepEqual(await l.get(-1), { three: [3] });
      assert.equal(await l.get(-3), 1);
      await l.set(-2, "TWO");
      await l.set(0, "a much longer value than the one it replaces ".repeat(10));
      await l.set(0, 0); // and back into a smaller block
      assert.deepEqual(await l.toArray(), [0, "TWO", { three: [3] }]);
      await assert.rejects(() => l.get(3), isRange);
      await assert.rejects(() => l.get(-4), isRange);
      await assert.rejects(() => l.set(3, 1), isRange);
      await assert.rejects(() => l.get(1.5), TypeError);
      await assert.rejects(() => l.get(3), {
        message: "Cannot get list item as the index is out of range: received 3",
      });
    });

    test("insert and pop follow Python's index rules", async () => {
      await using m = await t.start();
      const l = await m.list<string>(["b", "d"]);
      await l.insert(1, "c");
      await l.insert(-100, "a"); // clamped to the front
      await l.insert(100, "f"); // clamped to the end
      await l.insert(-1, "e"); // before the last
      assert.deepEqual(await l.toArray(), ["a", "b", "c", "d", "e", "f"]);
      assert.equal(await l.pop(), "f");
      assert.equal(await l.pop(0), "a");
      assert.equal(await l.pop(-2), "d");
      assert.deepEqual(await l.toArray(), ["b", "c", "e"]);
      await assert.rejects(() => l.pop(3), {
        name: "RangeError",
        message: "Cannot pop from list as the index is out of range: received 3",
      });
      await assert.rejects(() => l.pop(-4), isRange);
      await l.clear();
      assert.equal(await l.length(), 0);
      await assert.rejects(() => l.pop(), {
        message: "Cannot pop from list as the index is out of range: received -1",
      });
    });

    test("remove, index, count and includes compare by encoding", async () => {
      await using m = await t.start();
      const l = await m.list<unknown>([1, "1", [1, 2], 1, { a: 1 }, 1n]);
      assert.equal(await l.index(1), 0);
      assert.equal(await l.index(1, 1), 3);
      assert.equal(await l.index(1, -3), 3);
      await assert.rejects(() => l.index(1, 1, 3), isRange);
      assert.equal(await l.index([1, 2]), 2);
      assert.equal(await l.index({ a: 1 }), 4);
      assert.equal(await l.count(1), 2);
      assert.equal(await l.count("nope"), 0);
      assert.equal(await l.includes(1n), true);
      assert.equal(await l.includes(2), false);
      await l.remove(1);
      assert.deepEqual(await l.toArray(), ["1", [1, 2], 1, { a: 1 }, 1n]);
      await l.remove([1, 2]);
      await assert.rejects(() => l.remove(42), {
        name: "RangeError",
        message: "Cannot remove value from list as it is not in the list: received 42",
      });
      await assert.rejects(() => l.index("x"), isRange);
      assert.deepEqual(await l.toArray(), ["1", 1, { a: 1 }, 1n]);
    });

    test("slice follows Python for every start, stop and step", async () => {
      await using m = await t.start();
      const xs = ["a", "b", "c", "d", "e", "f", "g"];
      const l = await m.list<string>(xs);
      const bounds = [undefined, -9, -7, -3, -1, 0, 1, 3, 6, 7, 9];
      for (const step of [undefined, 1, 2, 3, -1, -2, -3]) {
        for (const a of bounds) {
          for (const b of bounds) {
            assert.deepEqual(await l.slice(a, b, step), pySlice(xs, a, b, step), `[${a}:${b}:${step}]`);
          }
        }
      }
      await assert.rejects(() => l.slice(0, 1, 0), isRange);
      assert.deepEqual(await l.slice(), xs);
    });

    test("extend, splice, reverse and clear", async () => {
      await using m = await t.start();
      const l = await m.list<number>();
      await l.extend([1, 2, 3]);
      await l.extend(new Set([4, 5])); // any iterable
      const model = [1, 2, 3, 4, 5];
      assert.deepEqual(await l.splice(1, 2, 20, 30, 40), model.splice(1, 2, 20, 30, 40));
      assert.deepEqual(await l.splice(-2, 1), model.splice(-2, 1));
      assert.deepEqual(await l.splice(100, 0, 9), model.splice(100, 0, 9));
      assert.deepEqual(await l.splice(2), model.splice(2));
      assert.deepEqual(await l.toArray(), model);
      await l.extend([7, 8]);
      await l.reverse();
      assert.deepEqual(await l.toArray(), [8, 7, 20, 1]);
      await l.clear();
      assert.deepEqual(await l.toArray(), []);
      await l.append(1);
      assert.deepEqual(await l.toArray(), [1]);
    });

    test("sort: Python's order by default, or a compare function; stable", async () => {
      await using m = await t.start();
      const l = await m.list<unknown>([3, 1.5, 2n, true, -1]);
      await l.sort();
      assert.deepEqual(await l.toArray(), [-1, true, 1.5, 2n, 3]);
      const words = await m.list<string>(["pear", "fig", "apple", "kiwi", "date"]);
      await words.sort();
      assert.deepEqual(await words.toArray(), ["apple", "date", "fig", "kiwi", "pear"]);
      await words.sort((a, b) => a.length - b.length); // stable: equal lengths keep their order
      assert.deepEqual(await words.toArray(), ["fig", "date", "kiwi", "pear", "apple"]);
      const pairs = await m.list<number[]>([[2, 1], [1, 9], [2, 0], [1]]);
      await pairs.sort();
      assert.deepEqual(await pairs.toArray(), [[1], [1, 9], [2, 0], [2, 1]]);
      const mixed = await m.list<unknown>([1, "a", 2]);
      await assert.rejects(() => mixed.sort(), TypeError);
      assert.deepEqual(await mixed.toArray(), [1, "a", 2]);
      await assert.rejects(() =>
        mixed.sort(() => {
          throw new Error("compare failed");
        }), /compare failed/);
      assert.deepEqual(await mixed.toArray(), [1, "a", 2]);
    });

    test("holds any value the codec round-trips", async () => {
      await using m = await t.start();
      const values: unknown[] = [
        0,
        -1,
        2 ** 31,
        -(2 ** 40),
        1.5,
        NaN,
        Infinity,
        -Infinity,
        "",
        "ascii",
        "ünïcødé ✓ 😀",
        "x".repeat(300),
        "y".repeat(5000),
        true,
        false,
        null,
        undefined,
        12n,
        -(2n ** 70n),
        new Date(1_700_000_000_000),
        [1, [2, [3, undefined]]],
        { a: 1, b: { c: [null, "d"] } },
        new Map<unknown, unknown>([[1, "one"], ["two", { n: 2 }]]),
        new Set([1, "a"]),
        new Uint8Array([1, 2, 255]),
        new Float64Array([1.5, -2]),
        Array.from({ length: 500 }, (_, i) => ({ i, s: `item ${i}` })),
      ];
      const l = await m.list<unknown>();
      for (const v of values) await l.append(v);
      assert.deepEqual(await l.toArray(), values);
      for (let i = 0; i < values.length; i++) assert.deepEqual(await l.get(i), values[i]);
      assert.deepEqual(await l.slice(-5), values.slice(-5));
      const big = { blob: "z".repeat(10_000) };
      await l.set(0, big);
      assert.deepEqual(await l.get(0), big);
      assert.equal(await l.index(new Map<unknown, unknown>([[1, "one"], ["two", { n: 2 }]])), values.length - 5);
    });

    test("functions and class instances are refused with CodecError, storing nothing", async () => {
      await using m = await t.start();
      const l = await m.list<unknown>([1]);
      await assert.rejects(() => l.append(() => 1), CodecError);
      class Point {
        x = 1;
      }
      await assert.rejects(() => l.extend([2, new Point()]), CodecError);
      await assert.rejects(() => l.set(0, Symbol("s")), CodecError);
      await assert.rejects(() => l.insert(0, new Point()), CodecError);
      assert.deepEqual(await l.toArray(), [1]);
    });

    test("a name opens the same list", async () => {
      await using m = await t.start();
      const a = await m.list<number>([1], { name: "shared" });
      const b = await m.list<number>(undefined, { name: "shared" });
      await b.append(2);
      assert.deepEqual(await a.toArray(), [1, 2]);
    });

    test("at maxBytes a write fails with CapacityError and nothing stored is lost", async () => {
      await using m = await t.start();
      const l = await m.list<string>(undefined, { maxBytes: 64 * 1024 });
      const stored: string[] = [];
      let err: unknown;
      for (let i = 0; i < 10_000; i++) {
        const v = `${i}:${"v".repeat(100)}`;
        try {
          await l.append(v);
        } catch (e) {
          err = e;
          break;
        }
        stored.push(v);
      }
      assert.ok(err instanceof CapacityError, `expected CapacityError, got ${err}`);
      assert.ok(stored.length > 100, `only ${stored.length} items fit`);
      assert.deepEqual(await l.toArray(), stored);
      // all-or-nothing writes of several items
      await assert.rejects(() => l.extend(["a", "b", "c".repeat(50_000)]), CapacityError);
      await assert.rejects(() => l.splice(0, 1, "a", "b".repeat(50_000)), CapacityError);
      await assert.rejects(() => l.set(0, "s".repeat(50_000)), CapacityError);
      await assert.rejects(() => l.insert(0, "i".repeat(50_000)), CapacityError);
      assert.deepEqual(await l.toArray(), stored);
      // freed space serves again
      for (let i = 0; i < 10; i++) assert.equal(await l.pop(), stored.pop());
      for (let i = 0; i < 10; i++) {
        const v = `again ${i}:${"w".repeat(100)}`;
        await l.append(v);
        stored.push(v);
      }
      assert.deepEqual(await l.toArray(), stored);
    });

    test(`Sync twins ${t.local ? "work" : "are refused"}`, async () => {
      await using m = await t.start();
      const l = await m.list<number>([1, 2, 3]);
      if (t.local) {
        l.appendSync(4);
        l.extendSync([5, 6]);
        l.insertSync(0, 0);
        assert.equal(l.getSync(-1), 6);
        l.setSync(-1, 60);
        assert.equal(l.popSync(), 60);
        assert.equal(l.popSync(0), 0);
        l.removeSync(5);
        assert.equal(l.indexSync(3), 2);
        assert.equal(l.countSync(3), 1);
        assert.equal(l.includesSync(4), true);
        assert.deepEqual(l.sliceSync(1, undefined, 2), [2, 4]);
        assert.deepEqual(l.spliceSync(0, 1, 10, 11), [1]);
        l.reverseSync();
        l.sortSync((a, b) => b - a);
        assert.equal(l.lengthSync(), 5);
        assert.deepEqual(l.toArraySync(), [11, 10, 4, 3, 2]);
        l.clearSync();
        assert.deepEqual(l.toArraySync(), []);
      } else {
        assert.throws(() => l.getSync(0), TypeError);
        assert.throws(() => l.appendSync(1), TypeError);
      }
    });

    test(`4 workers append ${t.local ? "10,000" : "2,500"} distinct items each: length and multiset exact`, async () => {
      await using m = await t.start();
      const l = await m.list<string>();
      const n = t.local ? 10_000 : 2_500, gate = new SharedArrayBuffer(4); // a remote append is a ~20 µs round trip
      const ws = [0, 1, 2, 3].map((w) => spawn(appendWorker, { args: [l, w, n, gate, 4] }));
      assert.deepEqual(await Promise.all(ws.map((w) => w.join())), [n, n, n, n]);
      assert.equal(await l.length(), 4 * n);
      const all = await l.toArray();
      const next = [0, 0, 0, 0];
      for (const s of all) {
        const [w, i] = s.split(":").map(Number);
        assert.equal(i, next[w], `worker ${w}'s items out of order or duplicated at ${s}`);
        next[w]++;
      }
      assert.deepEqual(next, [n, n, n, n]);
    });

    test("4 workers append and pop concurrently: nothing lost, nothing duplicated", async () => {
      await using m = await t.start();
      const l = await m.list<string>();
      const n = t.local ? 10_000 : 2_000, gate = new SharedArrayBuffer(4);
      const ws = [0, 1, 2, 3].map((w) => spawn(churnWorker, { args: [l, w, n, gate, 4] }));
      const popped = (await Promise.all(ws.map((w) => w.join()))).flat();
      const left = await l.toArray();
      assert.equal(popped.length + left.length, 4 * n);
      const seen = new Set([...popped, ...left]);
      assert.equal(seen.size, 4 * n);
      for (let w = 0; w < 4; w++) for (let i = 0; i < n; i++) assert.ok(seen.has(`${w}:${i}`));
    });
  });
}

describe("List on the shared buffer", () => {
  const [sharedBuffer] = LIST_CASES;

  test("grows to 1,000,000 items while a reader sees only valid prefixes, without a pause", async () => {
    await using m = await sharedBuffer.start();
    const l = await m.list<number>(undefined, { initialBytes: 0 });
    const flags = new SharedArrayBuffer(8), f = new Int32Array(flags);
    const reader = spawn(readerWorker, { args: [l, flags, 12345] });
    await until(f, 0, 1);
    const batch = 10_000, total = 1_000_000;
    const xs = new Array<number>(batch);
    let worst = 0;
    for (let b = 0; b < total; b += batch) {
      for (let j = 0; j < batch; j++) xs[j] = b + j;
      const t0 = performance.now();
      l.extendSync(xs);
      worst = Math.max(worst, performance.now() - t0);
    }
    Atomics.store(f, 1, 1);
    const report = await reader.join() as ReaderReport;
    assert.equal(l.lengthSync(), total);
    assert.equal(report.lastLength, total);
    assert.ok(report.reads > 100, `the reader made only ${report.reads} reads`);
    // Growth copies the slot array beside the old one and swaps it in one store:
    // readers go on reading while the writer holds the lock, and never wait for it.
    assert.ok(report.underWrite > 0, `no read completed while the writer held the lock (${report.reads} reads)`);
    // A loose bound: on a loaded machine the scheduler alone can stall a thread for tens of ms.
    assert.ok(
      report.maxGapMs < 1000,
      `a reader waited ${report.maxGapMs.toFixed(1)} ms (slowest extend ${worst.toFixed(1)} ms)`,
    );
    const all = l.toArraySync();
    for (let i = 0; i < total; i++) if (all[i] !== i) assert.fail(`item ${i} is ${all[i]}`);
    const e = new ListEngine(l.handle.buffer as SharedArrayBuffer);
    // 1,000,000 × (4-byte slot, 16-byte block + 8-byte header) plus the slot arrays left behind
    assert.ok(e.stats().byteLength <= 64 * 1024 * 1024, `buffer of ${e.stats().byteLength} bytes`);
  });

  test("readers do not need the writer lock: a worker reads while this thread holds it", async () => {
    await using m = await sharedBuffer.start();
    const l = await m.list<number>(Array.from({ length: 1000 }, (_, i) => i));
    const flags = new SharedArrayBuffer(8);
    Atomics.store(new Int32Array(flags), 1, 1); // one round of reads, then return
    const e = new ListEngine(l.handle.buffer as SharedArrayBuffer);
    const id = e.seq.lock();
    try {
      // were readers to wait for the lock, the worker would never return and the signal end it
      const reader = spawn(readerWorker, { args: [l, flags, 99], signal: AbortSignal.timeout(20_000) });
      const report = await reader.join() as ReaderReport;
      assert.ok(report.reads >= 5);
      assert.equal(report.underWrite, report.reads);
      assert.equal(report.lastLength, 1000);
    } finally {
      e.seq.unlock(id);
    }
  });

  test("3 readers see only valid prefixes while a writer appends one item at a time", async () => {
    await using m = await sharedBuffer.start();
    const l = await m.list<number>(undefined, { initialBytes: 0 });
    const flags = new SharedArrayBuffer(8), n = 50_000;
    const readers = [1, 2, 3].map((s) => spawn(readerWorker, { args: [l, flags, s * 7919] }));
    const writer = spawn(writerWorker, { args: [l, n, flags, 3] });
    assert.equal(await writer.join(), n);
    for (const r of await Promise.all(readers.map((r) => r.join())) as ReaderReport[]) {
      assert.equal(r.lastLength, n);
      assert.ok(r.reads > 0);
    }
  });

  test("reuses freed space: popping and refilling does not grow the buffer", async () => {
    await using m = await sharedBuffer.start();
    const l = await m.list<string>();
    const e = new ListEngine(l.handle.buffer as SharedArrayBuffer);
    const fill = (tag: string) => {
      for (let i = 0; i < 20_000; i++) l.appendSync(`${tag}${i % 97}:${"p".repeat(i % 50)}`);
    };
    fill("a");
    const full = e.stats();
    for (let round = 0; round < 5; round++) {
      while (l.lengthSync() > 0) l.popSync();
      assert.ok(e.stats().bytesInUse < 1024, `${e.stats().bytesInUse} bytes in use when empty`);
      fill(round % 2 === 0 ? "b" : "c");
      assert.equal(e.stats().byteLength, full.byteLength);
      assert.equal(e.stats().bytesInUse, full.bytesInUse);
    }
  });

  test("a churn of 1,000,000 appends, pops and sets over ~10,000 items keeps memory within the stated bounds", async () => {
    await using m = await sharedBuffer.start();
    const l = await m.list<unknown>();
    const e = new ListEngine(l.handle.buffer as SharedArrayBuffer);
    const r = rng(20240607);
    const text = (n: number, wide: boolean) => {
      let s = "";
      for (let i = 0; i < n; i++) s += String.fromCharCode((wide ? 0x3b1 : 0x61) + r(24));
      return s;
    };
    const value = (): unknown => {
      const k = r(100);
      if (k < 50) return r(1 << 30) - (1 << 29);
      if (k < 80) return text(r(40), false);
      if (k < 90) return text(r(60), true);
      if (k < 97) return { id: r(1000), tags: [text(r(8), false), text(r(8), false)], ok: k < 94 };
      return text(200 + r(1800), false);
    };
    l.extendSync(Array.from({ length: 10_000 }, value));
    for (let op = 0; op < 1_000_000; op++) {
      const n = l.lengthSync(), k = r(100);
      if (n < 9_000 || (n <= 11_000 && k < 35)) l.appendSync(value());
      else if (n > 11_000 || k < 70) l.popSync(k < 60 ? -1 : r(n));
      else l.setSync(r(n), value());
    }
    const live = l.toArraySync();
    const liveBytes = live.reduce<number>((s, v) => s + encode(v).length + 16, 0);
    const { bytesInUse, byteLength } = e.stats();
    assert.ok(live.length >= 9_000 && live.length <= 11_001);
    // The bounds stated in List's doc comment: heap in use ≤ 4×, buffer ≤ 8× the live data
    // (encoded bytes + 16 bytes an item).
    assert.ok(bytesInUse <= 4 * liveBytes, `in use ${bytesInUse} > 4 × ${liveBytes}`);
    assert.ok(byteLength <= 8 * liveBytes, `buffer ${byteLength} > 8 × ${liveBytes}`);
  });
});
