/**
 * A bounded Queue at its byte ceiling: a put that fails with `CapacityError`
 * gives back the place it reserved (on every put path and transport), and
 * fill/drain cycles do not lose room.
 * @module
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CapacityError, type Queue, QueueError } from "../../mod.ts";
import { TRANSPORTS } from "../_transports.ts";
import { createHeapBuffer, Heap } from "../../structures/_heap.ts";

const isCapacity = (e: unknown): boolean => e instanceof CapacityError && e.reason === "Full";

/** A value of about `n` encoded bytes. */
const blob = (n: number, tag = 0): string => String.fromCharCode(97 + (tag % 26)).repeat(n);

/** Mixed sizes: inline (≤ 56 bytes) and heap items of several size classes. */
const SIZES = [10, 100, 40, 700, 200, 3000, 60, 1500, 20, 450];

/**
 * Puts values of mixed sizes, in turn, until each size in a row fails with
 * `CapacityError`; the indices of the values stored.
 */
async function fill(q: Queue<string>): Promise<number[]> {
  const stored: number[] = [];
  for (let i = 0, failed = 0; failed < SIZES.length; i++) {
    try {
      await q.putNowait(blob(SIZES[i % SIZES.length], i));
      stored.push(i);
      failed = 0;
    } catch (e) {
      if (!isCapacity(e)) throw e;
      failed++;
    }
  }
  return stored;
}

/** Gets every item, checking each is the one stored at its position. */
async function drain(q: Queue<string>, stored: number[]): Promise<void> {
  for (const i of stored) assert.equal(await q.getNowait(), blob(SIZES[i % SIZES.length], i));
  await assert.rejects(() => q.getNowait(), (e) => e instanceof QueueError && e.reason === "Empty");
}

for (const t of TRANSPORTS) {
  describe(`Queue at its byte ceiling over ${t.name}`, () => {
    const puts: [string, (q: Queue<string>, v: string) => Promise<void> | void][] = [
      ["put", (q, v) => q.put(v, { timeout: 5000 })],
      ["putNowait", (q, v) => q.putNowait(v)],
    ];
    if (t.local) puts.push(["putSync", (q, v) => q.putSync(v, { timeout: 5000 })]);

    for (const [name, put] of puts) {
      test(`a ${name} that fails with CapacityError gives its place back`, async () => {
        await using m = await t.start();
        const q = await m.queue<string>({ maxsize: 1, maxBytes: 16384 });
        for (let round = 0; round < 3; round++) {
          await assert.rejects(async () => await put(q, blob(64 * 1024)), isCapacity);
          assert.equal(await q.qsize(), 0);
          assert.equal(await q.full(), false);
          assert.equal(await q.empty(), true);
          await put(q, "small");
          assert.equal(await q.qsize(), 1);
          assert.equal(await q.full(), true);
          assert.equal(await q.get({ timeout: 5000 }), "small");
          assert.equal(await q.full(), false);
        }
      });
    }

    test("a failed put to a bounded queue with room left keeps the others' places", async () => {
      await using m = await t.start();
      const q = await m.queue<string>({ maxsize: 3, maxBytes: 16384 });
      await q.put("a");
      await assert.rejects(() => q.putNowait(blob(64 * 1024)), isCapacity);
      await q.putNowait("b");
      await q.putNowait("c");
      assert.equal(await q.full(), true);
      await assert.rejects(() => q.putNowait("d"), (e) => e instanceof QueueError && e.reason === "Full");
      assert.deepEqual([await q.getNowait(), await q.getNowait(), await q.getNowait()], ["a", "b", "c"]);
    });

    test("fill/drain cycles of mixed sizes keep the room they had", async () => {
      await using m = await t.start();
      const q = await m.queue<string>({ maxsize: 100_000, maxBytes: 64 * 1024 });
      const counts: number[] = [];
      for (let cycle = 0; cycle < 20; cycle++) {
        const stored = await fill(q);
        counts.push(stored.length);
        assert.equal(await q.qsize(), stored.length);
        await drain(q, stored);
        assert.equal(await q.qsize(), 0);
        assert.equal(await q.full(), false);
      }
      // a drained queue keeps one block of slots where the last fill ended, so a
      // later fill may store a few items fewer than the first; never fewer than that
      const first = counts[0];
      assert.ok(first > 20, `the first fill stored only ${first} items`);
      for (const n of counts) {
        assert.ok(n >= first * 0.95, `room shrank over the cycles: ${counts.join(", ")}`);
      }
    });
  });
}

test("the heap under a tight ceiling: merged and split blocks never overlap, and a drained heap has its room back", () => {
  const heap = new Heap(createHeapBuffer(64 * 1024, 64 * 1024, "test heap"), "test heap");
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const live = new Map<number, [number, number]>(); // payload → [bytes, fill byte]
  const check = (off: number): void => {
    const [n, b] = live.get(off)!;
    const u8 = heap.u8;
    for (let i = 0; i < n; i++) if (u8[off + i] !== b) assert.fail(`block at ${off} was overwritten`);
  };
  let room = 0;
  for (let round = 0; round < 6; round++) {
    let stored = 0;
    for (let op = 0; op < 3000; op++) {
      if (live.size > 0 && rand(3) === 0) {
        const off = [...live.keys()][rand(live.size)];
        check(off);
        live.delete(off);
        heap.free(off);
        if (rand(50) === 0) heap.compact();
        continue;
      }
      const n = 1 + rand(rand(2) === 0 ? 100 : 3000);
      let off: number;
      try {
        off = heap.alloc(n);
      } catch (e) {
        if (!isCapacity(e)) throw e;
        continue;
      }
      assert.ok(heap.capacity(off) >= n);
      assert.ok(!live.has(off));
      const b = 1 + rand(250);
      heap.u8.fill(b, off, off + n);
      live.set(off, [n, b]);
      stored++;
    }
    assert.ok(stored > 100);
    for (const off of live.keys()) {
      check(off);
      heap.free(off);
    }
    live.clear();
    assert.equal(heap.inUse(), 0);
    heap.compact(); // as a queue does when it finds itself empty
    // emptied: one size at a time fills the whole heap again
    const blocks: number[] = [];
    for (;;) {
      try {
        blocks.push(heap.alloc(1000));
      } catch (e) {
        if (!isCapacity(e)) throw e;
        break;
      }
    }
    if (round === 0) room = blocks.length;
    else assert.ok(blocks.length >= room - 1, `room of round ${round}: ${blocks.length} blocks, first ${room}`);
    for (const off of blocks) heap.free(off);
  }
});
