import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "../../process/spawn.ts";
import { attach } from "../../attach.ts";
import "../../transports/shared_buffer.ts";
import { Lock } from "../../sync/lock.ts";
import { RawValue, Value } from "../../structures/value.ts";
import type { TypeCode, TypeName } from "../../structures/_typecodes.ts";
import { openRemote } from "./fixtures_vals/in_process_remote.ts";

const fixture = (name: string) => new URL(`./fixtures_vals/${name}.ts`, import.meta.url);

const CODES: ReadonlyArray<[TypeCode, TypeName, unknown, unknown]> = [
  ["b", "i8", 0, -5],
  ["B", "u8", 0, 250],
  ["c", "u8", 0, 65],
  ["h", "i16", 0, -30000],
  ["H", "u16", 0, 65000],
  ["i", "i32", 0, -2_000_000_000],
  ["I", "u32", 0, 4_000_000_000],
  ["l", "i64", 0n, -(2n ** 62n)],
  ["L", "u64", 0n, 2n ** 64n - 1n],
  ["q", "i64", 0n, 2n ** 63n - 1n],
  ["Q", "u64", 0n, 2n ** 63n],
  ["f", "f32", 0, 1.5],
  ["d", "f64", 0, Math.PI],
  ["?", "bool", false, true],
];

describe("Value and RawValue", () => {
  test("every Python type code and explicit name: zero by default, init, load and store", async () => {
    for (const [code, name, zero, sample] of CODES) {
      for (const tc of [code, name] as TypeCode[]) {
        const v = RawValue.create(tc);
        assert.equal(v.typecode, name, `${tc} is ${name}`);
        assert.equal(v.value, zero, `${tc} starts at zero`);
        const w = Value.create(tc, sample as never);
        assert.equal(await w.load(), sample, `${tc} init`);
        await v.store(sample as never);
        assert.equal(v.loadSync(), sample, `${tc} store`);
        v.value = zero as never;
        assert.equal(v.value, zero);
      }
    }
  });

  test("64-bit types take safe-integer numbers and answer bigints", () => {
    const v = RawValue.create("q", 7);
    assert.equal(v.value, 7n);
    v.storeSync(-3);
    assert.equal(v.loadSync(), -3n);
    assert.equal(v.addSync(10), -3n);
    assert.equal(v.value, 7n);
  });

  test("an unknown type code is a TypeError in the std form", () => {
    for (const bad of ["x", "int", "u", "", 3, undefined]) {
      assert.throws(
        () => RawValue.create(bad as never),
        (e: unknown) =>
          e instanceof TypeError &&
          /^Cannot create value as 'typecode' must be a type code .*: received /.test(e.message),
      );
    }
  });

  test("values the type cannot hold are refused and nothing is stored", () => {
    const i8 = RawValue.create("i8", 1);
    assert.throws(() => i8.storeSync(128), RangeError);
    assert.throws(() => i8.storeSync(-129), RangeError);
    assert.throws(() => i8.storeSync(1.5), TypeError);
    assert.throws(() => i8.storeSync("1" as never), TypeError);
    assert.throws(() => i8.storeSync(1n as never), TypeError);
    assert.equal(i8.value, 1);
    const u64 = RawValue.create("u64");
    assert.throws(() => u64.storeSync(-1n), RangeError);
    assert.throws(() => u64.storeSync(2n ** 64n), RangeError);
    assert.throws(() => u64.storeSync(2 ** 60), TypeError, "unsafe numbers are refused");
    const flag = RawValue.create("bool");
    assert.throws(() => flag.storeSync(1 as never), TypeError);
    assert.throws(() => RawValue.create("i", 2 ** 31), RangeError);
    assert.throws(() => RawValue.create("d", "1" as never), TypeError);
  });

  test("add returns the previous value and wraps as C does", () => {
    const i8 = RawValue.create("b", 127);
    assert.equal(i8.addSync(1), 127);
    assert.equal(i8.value, -128);
    const u32 = RawValue.create("I", 0);
    assert.equal(u32.addSync(-1), 0);
    assert.equal(u32.value, 4294967295);
    const u64 = RawValue.create("Q", 0n);
    u64.addSync(-1n);
    assert.equal(u64.value, 2n ** 64n - 1n);
    const i64 = RawValue.create("q", 2n ** 63n - 1n);
    i64.addSync(1n);
    assert.equal(i64.value, -(2n ** 63n));
    assert.throws(() => i8.addSync(0.5), TypeError);
    assert.throws(() => RawValue.create("?").addSync(true as never), TypeError);
  });

  test("floats add and compare-exchange by value; f32 rounds", () => {
    const d = RawValue.create("d", 0.5);
    assert.equal(d.addSync(0.25), 0.5);
    assert.equal(d.value, 0.75);
    assert.equal(d.compareExchangeSync(0.5, 9), 0.75, "no swap");
    assert.equal(d.value, 0.75);
    assert.equal(d.compareExchangeSync(0.75, 9), 0.75, "swap");
    assert.equal(d.value, 9);
    d.storeSync(NaN);
    assert.ok(Number.isNaN(d.compareExchangeSync(NaN, 1)));
    assert.equal(d.value, 1, "NaN equals NaN");
    d.storeSync(-0);
    d.compareExchangeSync(0, 2);
    assert.equal(d.value, 2, "0 equals -0");
    const f = RawValue.create("f", 0.1);
    assert.equal(f.value, Math.fround(0.1));
    assert.equal(f.compareExchangeSync(0.1, 0.5), Math.fround(0.1), "expected is rounded to f32 first");
    assert.equal(f.value, 0.5);
    assert.equal(f.exchangeSync(1.25), 0.5);
    assert.equal(f.value, 1.25);
  });

  test("compareExchange and exchange on integers and booleans", async () => {
    const v = Value.create("i", 5);
    assert.equal(await v.compareExchange(4, 10), 5);
    assert.equal(await v.load(), 5);
    assert.equal(await v.compareExchange(5, 10), 5);
    assert.equal(await v.load(), 10);
    assert.equal(await v.exchange(3), 10);
    assert.equal(v.value, 3);
    const b = RawValue.create("bool", true);
    assert.equal(b.compareExchangeSync(false, false), true);
    assert.equal(b.value, true);
    assert.equal(b.compareExchangeSync(true, false), true);
    assert.equal(b.value, false);
  });

  test("getLock: a Lock per Value, shareable between values; RawValue has none", async () => {
    const a = Value.create("i32", 1);
    const lock = a.getLock();
    assert.ok(lock instanceof Lock);
    assert.equal(a.getLock(), lock);
    assert.equal(await lock.locked(), false);
    await lock.withLock(async () => {
      assert.equal(await lock.locked(), true);
      await a.store((await a.load()) + 1); // loads and stores do not take the lock: no deadlock
    });
    assert.equal(a.value, 2);
    const b = Value.create("i32", 0, { lock });
    assert.equal(b.getLock(), lock);
    const raw = RawValue.create("i32");
    assert.equal("getLock" in raw, false);
    assert.throws(() => Value.create("i32", 0, { lock: false as never }), TypeError);
    assert.throws(() => Value.create("i32", 0, { lock: {} as never }), TypeError);
  });

  test("attach(handle) gives the same memory and the same lock word", async () => {
    const v = Value.create("d", 1.5);
    const again = await attach<Value<"d">>(v.handle);
    assert.ok(again instanceof Value);
    again.storeSync(2.5);
    assert.equal(v.value, 2.5);
    const permit = again.getLock().acquireSync();
    assert.equal(await v.getLock().locked(), true);
    permit.release();
    const raw = await attach<RawValue<"q">>(RawValue.create("q", 4n).handle);
    assert.ok(raw instanceof RawValue && !(raw instanceof Value));
    assert.equal(raw.value, 4n);
  });

  test("remote operations through the engine host, with the lock held by the caller", async () => {
    const v = await openRemote<Value<"q">>("value", undefined, ["q", 5, { lock: true }]);
    assert.ok(v instanceof Value);
    assert.equal(v.typecode, "i64");
    assert.equal(await v.load(), 5n);
    assert.equal(await v.add(2), 5n);
    assert.equal(await v.compareExchange(7n, 9n), 7n);
    assert.equal(await v.exchange(1n), 9n);
    await v.store(-4n);
    assert.equal(await v.load(), -4n);
    await assert.rejects(() => v.store(2n ** 63n), RangeError);
    assert.throws(() => v.loadSync(), TypeError, "no Sync twins remotely");
    assert.throws(() => v.value, TypeError);
    const lock = v.getLock();
    const p = await lock.acquire({ timeout: 1000 });
    assert.equal(await lock.locked(), true);
    assert.equal(await lock.tryAcquire(), undefined);
    await p.release();
    assert.equal(await lock.locked(), false);
    const raw = await openRemote<RawValue<"bool">>("value", undefined, ["?", true, { lock: false }]);
    assert.ok(!(raw instanceof Value));
    assert.equal(await raw.load(), true);
  });

  test("4 workers x 20,000 atomic adds end exact, for i32, i64, f64 and the async form", async () => {
    const n = 20_000;
    const i32 = Value.create("i32", 0);
    const i64 = RawValue.create("q", 0n);
    const f64 = Value.create("d", 0);
    const down = RawValue.create("i32", 0);
    const ws = [0, 1, 2, 3].map(() => spawn(fixture("value_add"), { args: [n, i32, i64, f64, down] }));
    assert.deepEqual(await Promise.all(ws.map((w) => w.join())), [n, n, n, n]);
    assert.equal(i32.value, 4 * n);
    assert.equal(i64.value, BigInt(4 * n * 3));
    assert.equal(f64.value, 4 * n * 0.5);
    assert.equal(await down.load(), -4 * n);
  });

  test("4 workers x 5,000 read-modify-write updates under getLock() end exact", async () => {
    const n = 5_000;
    const v = Value.create("i32", 0);
    const ws = [0, 1, 2, 3].map(() => spawn(fixture("value_locked"), { args: [v, n] }));
    await Promise.all(ws.map((w) => w.join()));
    assert.equal(v.value, 4 * n);
  });
});
