/**
 * A process with `shm:` structures still collects its garbage (issue 9;
 * docs/decisions.md, "Bun: a region's buffer covers what is committed").
 * A Dict on `shm:` reserves 1 GiB; JavaScriptCore (Bun) counts an
 * ArrayBuffer's whole `byteLength` as live heap, so a buffer over the whole
 * reservation let hundreds of megabytes of garbage pile up before a
 * collection (2M short strings: +330 MiB RSS; 3M: +500 MiB). On Bun a
 * region's buffer now covers only what was committed, and heaps and
 * journals reach further through longer buffers over the same memory.
 * @module
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Manager } from "../../mod.ts";
import { runtime } from "../../transports/_runtime/runtime.ts";
import { Heap } from "../../structures/_heap.ts";
import { ShmRegion } from "../../transports/shm/_region.ts";
import { child, useShm } from "./_shm.ts";

const KEYS = 3_000;
const STRINGS = 3_000_000;
/** Generous: the loop's own garbage between two collections is a few MiB; before the fix it was ~500 MiB. */
const RSS_BOUND = 192 * 2 ** 20;

const shm = useShm();

describe(`shm: memory on ${runtime}`, () => {
  let m: Manager;
  before(async () => {
    m = await Manager.start({ transport: "shm:" });
  });
  after(async () => {
    await m.shutdown();
  });

  it(`a process with two 1 GiB Dicts attached builds ${STRINGS} short strings and its RSS rises less than 192 MiB`, async () => {
    const d = await m.dict<string, number>(undefined, { name: "d" });
    for (let i = 0; i < KEYS; i++) d.setSync("k" + i, i); // grows past the first commit: the child's heap covers more
    const c = child(new URL("../fixtures/shm_gc_child.ts", import.meta.url), [m.address!, KEYS, STRINGS]);
    const { lines } = await c.done;
    const r = lines[0] as { found: number; own: number; rose: number };
    assert.equal(r.found, KEYS);
    assert.equal(r.own, 1);
    assert.ok(r.rose < RSS_BOUND, `RSS rose ${(r.rose / 2 ** 20).toFixed(0)} MiB during the loop`);
  });

  it("a step logged past a handle's first commit by another handle is rolled back through it", () => {
    const a = shm.region({ maxBytes: 1 << 20, initialBytes: 64 * 1024 });
    const b = ShmRegion.open(shm.ffi, a.name, { minBytes: 64 * 1024 }); // on Bun its buffer covers 64 KiB
    try {
      a.grow(256 * 1024);
      const w = (200 * 1024) >> 2;
      // a's heap logs word w (past b's first commit) with the value to restore, arms the step, writes, dies
      const writer = new Heap(a.buffer as unknown as SharedArrayBuffer, "test");
      writer.journal.open();
      writer.journal.logAs(a.i32, w, 5);
      writer.journal.arm(a.i32);
      a.i32[w] = 9;
      const taker = new Heap(b.buffer as unknown as SharedArrayBuffer, "test");
      taker.recover();
      assert.equal(Atomics.load(a.i32, w), 5);
      assert.equal(taker.journal.pending(b.i32), false);
    } finally {
      b.close();
    }
  });
});
