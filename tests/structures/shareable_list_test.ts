import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CapacityError } from "../../errors.ts";
import { spawn } from "../../process/spawn.ts";
import { attach } from "../../attach.ts";
import "../../transports/shared_buffer.ts";
import { type ShareableItem, ShareableList } from "../../structures/shareable_list.ts";
import { SharedMemory, SharedMemoryError } from "../../structures/shared_memory.ts";
import { openRemote } from "./fixtures_vals/in_process_remote.ts";

const fixture = (name: string) => new URL(`./fixtures_vals/${name}.ts`, import.meta.url);

let n = 0;
const fresh = (what: string) => `test-list-${what}-${++n}`;

const EVERY: ShareableItem[] = [
  0,
  -7,
  2 ** 53 + 2,
  -(2 ** 62),
  2 ** 70, // an integer past 64 bits: kept as a float, exactly
  1.5,
  -0,
  NaN,
  Infinity,
  5n,
  -(2n ** 63n),
  2n ** 63n - 1n,
  true,
  false,
  null,
  "",
  "hello",
  "héllo ✓ 𝄞",
  new Uint8Array(0),
  new Uint8Array([0, 255, 1]),
];

describe("ShareableList", () => {
  test("round-trips every item type exactly", async () => {
    const sl = await ShareableList.create(EVERY);
    assert.equal(sl.length, EVERY.length);
    const back = await sl.toArray();
    assert.deepEqual(back, EVERY);
    assert.ok(Object.is(back[6], -0));
    for (let i = 0; i < EVERY.length; i++) assert.deepEqual(sl.getSync(i), EVERY[i], `item ${i}`);
    assert.equal(typeof back[9], "bigint");
    assert.equal(typeof back[1], "number");
    await sl.shm.unlink();
  });

  test("trailing NUL bytes survive in strings and bytes", async () => {
    const sl = ShareableList.createSync(["a\0\0", new Uint8Array([1, 0, 0]), "\0"]);
    assert.equal(sl.getSync(0), "a\0\0");
    assert.deepEqual(sl.getSync(1), new Uint8Array([1, 0, 0]));
    assert.equal(sl.getSync(2), "\0");
    await sl.set(0, "xy\0");
    assert.equal(await sl.get(0), "xy\0");
    sl.setSync(1, new Uint8Array([0]));
    assert.deepEqual(sl.getSync(1), new Uint8Array([0]));
    sl.shm.unlinkSync();
  });

  test("slot room is fixed as CPython: 8 bytes for scalars, 8 × (⌊n/8⌋ + 1) for text", async () => {
    const sl = ShareableList.createSync(["", "1234567", "12345678", 1, new Uint8Array(9)]);
    sl.setSync(0, "abcdefgh".slice(0, 7)); // 7 bytes fit the 8 of an empty string's slot
    assert.throws(() => sl.setSync(0, "abcdefgh\0"), CapacityError);
    sl.setSync(1, "abcdefgh"); // 8 bytes fit 8
    assert.throws(() => sl.setSync(1, "abcdefghi"), CapacityError);
    sl.setSync(2, "0123456789abcdef"); // 16 fit 16
    assert.throws(() => sl.setSync(2, "0123456789abcdefg"), CapacityError);
    sl.setSync(3, "12345678"); // a number's slot holds 8 bytes of text
    assert.throws(() => sl.setSync(3, "123456789"), CapacityError);
    sl.setSync(4, new Uint8Array(16));
    assert.throws(() => sl.setSync(4, new Uint8Array(17)), CapacityError);
    // UTF-8 bytes count, not characters: 3 × 3 bytes > 8
    assert.throws(() => sl.setSync(0, "✓✓✓"), CapacityError);
    assert.deepEqual(sl.toArraySync(), ["abcdefg", "abcdefgh", "0123456789abcdef", "12345678", new Uint8Array(16)]);
    await assert.rejects(
      () => sl.set(1, "far too long for its slot"),
      (e) => e instanceof CapacityError && e.reason === "Full",
    );
    assert.equal(sl.getSync(1), "abcdefgh", "nothing stored by the failed set");
    sl.shm.unlinkSync();
  });

  test("items change type within their slot", () => {
    const sl = ShareableList.createSync(["text", 1]);
    for (const v of [2.5, 3n, true, null, -1, new Uint8Array([1]), "ok"] as ShareableItem[]) {
      sl.setSync(0, v);
      sl.setSync(1, v);
      assert.deepEqual(sl.toArraySync(), [v, v]);
    }
    sl.shm.unlinkSync();
  });

  test("bad items are TypeErrors, out-of-range bigints and indices RangeErrors", () => {
    for (const bad of [undefined, {}, [1], () => 1, Symbol("s"), new Uint16Array(1)]) {
      assert.throws(() => ShareableList.createSync([bad as never]), TypeError);
    }
    assert.throws(() => ShareableList.createSync([2n ** 63n]), RangeError);
    assert.throws(() => ShareableList.createSync(5 as never), TypeError);
    const sl = ShareableList.createSync([1, 2]);
    assert.throws(() => sl.setSync(0, undefined as never), TypeError);
    assert.throws(() => sl.getSync(2), RangeError);
    assert.equal(sl.getSync(-1), 2);
    assert.throws(() => sl.setSync(-3, 1), RangeError);
    sl.shm.unlinkSync();
  });

  test("count and index", async () => {
    const sl = await ShareableList.create([1, 1n, "1", true, null, new Uint8Array([1]), 1.5, NaN]);
    assert.equal(await sl.count(1), 2, "a number equals a bigint of the same value");
    assert.equal(sl.countSync("1"), 1);
    assert.equal(sl.countSync(new Uint8Array([1])), 1);
    assert.equal(sl.countSync(NaN), 0, "NaN equals nothing, as in Python");
    assert.equal(await sl.index(null), 4);
    assert.equal(sl.indexSync(1n), 0);
    assert.equal(sl.indexSync(1.5), 6);
    await assert.rejects(() => sl.index("absent"), RangeError);
    await sl.shm.unlink();
  });

  test("attach by name, by handle; a plain block is refused; shm.close closes the list", async () => {
    const name = fresh("attach");
    const sl = await ShareableList.create([1, "a"], { name });
    assert.equal(sl.shm.name, name);
    const again = await ShareableList.attach(name);
    again.setSync(0, 2);
    assert.equal(sl.getSync(0), 2);
    assert.equal(ShareableList.attachSync(name).getSync(1), "a");
    const viaHandle = await attach<ShareableList>(sl.handle);
    assert.deepEqual(viaHandle.toArraySync(), [2, "a"]);
    await assert.rejects(
      () => ShareableList.create([1], { name }),
      (e) => e instanceof SharedMemoryError && e.reason === "Exists",
    );
    const plain = SharedMemory.createSync({ name: fresh("plain"), size: 64 });
    await assert.rejects(() => ShareableList.attach(plain.name), TypeError);
    plain.unlinkSync();
    again.shm.close();
    assert.throws(() => again.getSync(0), (e) => e instanceof SharedMemoryError && e.reason === "Closed");
    assert.equal(sl.getSync(0), 2, "other instances are open");
    await sl.shm.unlink();
    await assert.rejects(
      () => ShareableList.attach(name),
      (e) => e instanceof SharedMemoryError && e.reason === "NotFound",
    );
  });

  test("remote operations through the engine host", async () => {
    const name = fresh("remote");
    const sl = await openRemote<ShareableList>("shareable-list", name, [[1, "ab", 2n, null], { name }]);
    assert.equal(sl.length, 4);
    assert.deepEqual(await sl.toArray(), [1, "ab", 2n, null]);
    await sl.set(1, "abc\0");
    assert.equal(await sl.get(1), "abc\0");
    await assert.rejects(() => sl.set(1, "123456789"), CapacityError);
    assert.equal(await sl.count(2), 1);
    assert.equal(await sl.index(null), 3);
    assert.throws(() => sl.getSync(0), TypeError);
    assert.equal(sl.shm.name, name);
    assert.equal((await sl.shm.read(0, 4)).length, 4);
    assert.equal(ShareableList.attachSync(name).getSync(1), "abc\0", "threads of the host attach by name");
    await sl.shm.unlink();
  });

  test("a worker attaches by name and its writes are seen here", async () => {
    const name = fresh("worker");
    const sl = ShareableList.createSync([40, "........"], { name });
    const seen = await spawn(fixture("list_worker"), { args: [name, 2, "from\0w"] }).join();
    assert.deepEqual(seen, [42, "from\0w"]);
    assert.deepEqual(sl.toArraySync(), [42, "from\0w"]);
    sl.shm.unlinkSync();
  });

  test("readers never see a half-written item while a worker rewrites it", async () => {
    const a = "aaaaaaaaaaaaaaa", b = "bb";
    const sl = ShareableList.createSync([a]);
    const done = new Int32Array(new SharedArrayBuffer(4));
    const w = spawn(fixture("list_writer"), { args: [sl, a, b, 50_000, done.buffer] });
    let reads = 0;
    while (Atomics.load(done, 0) === 0) {
      for (let i = 0; i < 1000; i++, reads++) {
        const v = sl.getSync(0);
        if (v !== a && v !== b) assert.fail(`torn read: ${JSON.stringify(v)}`);
      }
      await new Promise((r) => setImmediate(r)); // let the worker's messages through
    }
    assert.equal(await w.join(), 50_000);
    assert.ok(reads > 0);
    sl.shm.unlinkSync();
  });
});
