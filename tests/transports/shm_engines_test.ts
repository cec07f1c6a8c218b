/**
 * The engines, unchanged, over `shm:` regions shared by OS processes: the
 * kernel (sync/_kernel.ts) waits and wakes on a region's words through the
 * futex (sync) and the relay (async) that every `ShmRegion` registers.
 * Lock: exact totals of non-atomic increments from 2 processes of this
 * runtime (sync and async) and from node + deno + bun together, where the
 * same increments without the lock lose updates; Event: a
 * ping-pong between this process (async) and another (sync, async); Semaphore:
 * a strict P/Q hand-off between 2 processes counts exactly; ShareableList: a
 * reader process never sees a torn item while a writer process writes;
 * Queue: a bounded queue streams items in order between 2 processes;
 * Barrier: 3 processes pass rounds together; timeouts and aborts end waits
 * over a region. Each
 * hand-off needs a cross-process wake-up: a lost one costs a 200 ms wait
 * slice, so a run that lost them all would do at most 5 hand-offs a second;
 * the tests fail below 20/s, far under what even a loaded machine does
 * (thousands), and print the rate (speed itself belongs to the bench).
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ShmRegion } from "../../transports/shm/_region.ts";
import { waitAsync } from "../../transports/shm/_relay.ts";
import { regionWaiter } from "../../transports/shm/_waiter.ts";
import { registerForeignBuffer, waitSliceAsync, wake } from "../../sync/_kernel.ts";
import type { LockError } from "../../errors.ts";
import { runtime } from "../../transports/_runtime/runtime.ts";
import { LockEngine } from "../../sync/lock.ts";
import { EventEngine } from "../../sync/event.ts";
import { SemaphoreEngine } from "../../sync/semaphore.ts";
import { QueueEngine } from "../../structures/queue.ts";
import { DictEngine } from "../../structures/dict.ts";
import { CapacityError } from "../../errors.ts";
import { BarrierEngine } from "../../sync/barrier.ts";
import { ShareableListEngine } from "../../structures/shareable_list.ts";
import { Registry, SharedMemoryEngine } from "../../structures/shared_memory.ts";
import { run as runFixture, useShm, type Which } from "./_shm.ts";

const FIXTURE = new URL("../fixtures/shm_engines_child.ts", import.meta.url);
/** Words of the fixture's layout (tests/fixtures/shm_engines_child.ts). */
const GATE = 512;
const COUNT = 513;
const TURN = 514;
const DONE = 515;
/** The value the dict test writes under key `k<i>` (the fixture's `dict-read` checks the same). */
const valueOfKey = (i: number): string => String(i % 10).repeat(20 + (i % 100));
/** Bytes of a region; the engines use the first 2 KiB, the fixture's words follow. */
const REGION_BYTES = 4096;

/** Runs the fixture in `which` runtime (Deno with -A); resolves with its JSON line once it exited 0. */
function run(which: Which, args: (string | number)[]): Promise<Record<string, number | string>> {
  return runFixture(FIXTURE, args, { which }) as Promise<Record<string, number | string>>;
}

const shm = useShm();

/** A fully committed region holding a copy of `initial` (a fresh engine's buffer) at its start. */
function region(initial?: ArrayBufferLike, bytes = REGION_BYTES): ShmRegion {
  const r = shm.region({ maxBytes: bytes });
  if (initial !== undefined && bytes > REGION_BYTES) r.u8.set(new Uint8Array(initial));
  else if (initial !== undefined) {
    assert.ok(initial.byteLength <= GATE * 4, `an engine of ${initial.byteLength} bytes overlaps the fixture's words`);
    r.u8.set(new Uint8Array(initial));
  }
  return r;
}

/** This process's side of the fixture's start gate for 2. */
async function gate(r: ShmRegion): Promise<void> {
  if (Atomics.add(r.i32, GATE, 1) + 1 === 2) r.notify(GATE);
  for (let v = Atomics.load(r.i32, GATE); v < 2; v = Atomics.load(r.i32, GATE)) await waitAsync(r, GATE, v, 5_000);
}

describe(`engines over shm regions on ${runtime}`, () => {
  for (const how of ["sync", "async"] as const) {
    it(`Lock (${how}): 2 processes each make N locked non-atomic increments; the total is exact`, async () => {
      const r = region(new LockEngine().buffer);
      const N = 20_000;
      const res = await Promise.all([1001, 1002].map((id) => run("self", ["lock", r.name, 2, id, N, how])));
      assert.equal(Atomics.load(r.i32, COUNT), 2 * N);
      assert.equal(new LockEngine(r.buffer as unknown as SharedArrayBuffer).locked(), false);
      const ms = Math.max(...res.map((x) => Number(x.ms)));
      const handoffs = res.reduce((n, x) => n + Number(x.handoffs), 0);
      console.log(
        `# ${runtime} Lock ${how}, 2 processes: ${2 * N} locked increments in ${
          ms.toFixed(0)
        } ms, ${handoffs} hand-offs (${(handoffs / ms).toFixed(0)}k/s)`,
      );
    });
  }

  it("control: the same increments from 2 processes without the Lock lose updates (the processes overlap)", async () => {
    const r = region(new LockEngine().buffer);
    const N = 20_000;
    await Promise.all([1001, 1002].map((id) => run("self", ["lock", r.name, 2, id, N, "none"])));
    assert.ok(Atomics.load(r.i32, COUNT) < 2 * N, `no update was lost: ${Atomics.load(r.i32, COUNT)}`);
  });

  it("Lock: a node, a deno and a bun process (sync and async) each make N locked increments; exact total", async () => {
    const r = region(new LockEngine().buffer);
    const N = 10_000;
    const who = [["node", "sync"], ["deno", "async"], ["bun", "sync"], ["node", "async"], ["deno", "sync"], [
      "bun",
      "async",
    ]] as const;
    const res = await Promise.all(who.map(([w, how], k) => run(w, ["lock", r.name, who.length, 2001 + k, N, how])));
    assert.deepEqual(res.map((x) => x.runtime), who.map(([w]) => w));
    assert.equal(Atomics.load(r.i32, COUNT), who.length * N);
  });

  for (const how of ["sync", "async"] as const) {
    it(`Event: set in one process wakes a waiter (${how}) in another, and back (async here), R rounds`, async () => {
      const a = region(new EventEngine().buffer);
      const b = region(new EventEngine().buffer);
      const ea = new EventEngine(a.buffer as unknown as SharedArrayBuffer);
      const eb = new EventEngine(b.buffer as unknown as SharedArrayBuffer);
      const R = 300;
      const child = run("self", ["event", a.name, b.name, 4001, R, how]);
      await gate(a);
      const t0 = performance.now();
      for (let i = 0; i < R; i++) {
        ea.set();
        assert.equal(await eb.wait({ timeout: 10_000 }), true, `round ${i}`);
        eb.clear();
      }
      const s = (performance.now() - t0) / 1000;
      assert.deepEqual(await child, { runtime, rounds: R });
      // a lost wake-up costs a 200 ms slice: R of them would take a minute
      assert.ok(R / s > 50, `${(R / s).toFixed(0)} round trips/s: wake-ups were lost`);
      console.log(
        `# ${runtime} Event ping-pong, ${how} waiter in the other process: ${(R / s).toFixed(0)} round trips/s`,
      );
    });
  }

  for (const how of ["sync", "async"] as const) {
    it(`Semaphore (${how}): P(1)/Q(0) hand-off between 2 processes alternates strictly and counts exactly`, async () => {
      const p = region(SemaphoreEngine.create(1, false, 4).buffer);
      const q = region(SemaphoreEngine.create(0, false, 4).buffer);
      const R = how === "sync" ? 20_000 : 5_000;
      const res = await Promise.all(
        [0, 1].map((side) => run("self", ["sem", p.name, q.name, side, 3001 + side, R, how])),
      );
      assert.deepEqual(res.map((x) => x.outOfTurn), [0, 0]);
      assert.equal(Atomics.load(p.i32, COUNT), 2 * R);
      assert.equal(Atomics.load(p.i32, TURN), 0);
      const ms = Math.max(...res.map((x) => Number(x.ms)));
      const rate = (2 * R) / (ms / 1000);
      assert.ok(rate > 20, `${rate.toFixed(0)} hand-offs/s: wake-ups were lost`);
      console.log(`# ${runtime} Semaphore ${how} hand-offs between 2 processes: ${(rate / 1000).toFixed(0)}k/s`);
    });
  }

  for (const how of ["sync", "async"] as const) {
    it(`Queue (${how}): a bounded queue streams N items from a producer process to a consumer process in order`, async () => {
      // a heap structure runs over a region as large as its maxBytes, committed whole: its growth is a no-op there
      const maxBytes = 256 * 1024;
      const q = QueueEngine.create({ maxsize: 8, maxBytes });
      const r = region(q.buffer, maxBytes);
      const ctl = region();
      const N = how === "sync" ? 20_000 : 5_000;
      const [put, get] = await Promise.all([
        run("self", ["queue", r.name, ctl.name, "put", 6001, N, how]),
        run("self", ["queue", r.name, ctl.name, "get", 6002, N, how]),
      ]);
      assert.equal(get.outOfOrder, 0);
      assert.equal(get.sum, (N * (N - 1)) / 2);
      const ms = Math.max(Number(put.ms), Number(get.ms));
      assert.equal(new QueueEngine(r.buffer as unknown as SharedArrayBuffer).qsize(), 0);
      const rate = N / (ms / 1000);
      assert.ok(rate > 20, `${rate.toFixed(0)} items/s: wake-ups were lost`);
      console.log(`# ${runtime} Queue(maxsize 8) ${how} between 2 processes: ${(rate / 1000).toFixed(0)}k items/s`);
    });
  }

  it("Barrier(3): 3 processes (sync, async, sync) pass R rounds together; nobody passes early", async () => {
    const r = region(BarrierEngine.create(3).buffer);
    const R = 300;
    const res = await Promise.all(
      (["sync", "async", "sync"] as const).map((how, k) => run("self", ["barrier", r.name, 3, 7001 + k, R, how])),
    );
    assert.deepEqual(res.map((x) => x.early), [0, 0, 0]);
    assert.equal(Atomics.load(r.i32, COUNT), 3 * R);
  });

  it("kernel: wait and wake on views at a byteOffset reach the same word in another process", async () => {
    const r = region();
    // the child's view starts at byte 1024 (word 3 = byte 1036); this side's at byte 1036 (word 0)
    const view = new Int32Array(r.buffer, 1036, 4);
    const R = 200;
    const child = run("self", ["kernel", r.name, R]);
    await gate(r);
    let waits = 0;
    const t0 = performance.now();
    for (let i = 0; i < R; i++) {
      Atomics.store(view, 0, 2 * i + 1);
      wake(view, 0);
      const deadline = performance.now() + 10_000;
      while (Atomics.load(view, 0) !== 2 * i + 2) {
        assert.ok(await waitSliceAsync(view, 0, 2 * i + 1, deadline, undefined), `round ${i} timed out`);
        waits++;
      }
    }
    const s = (performance.now() - t0) / 1000;
    const { naps, ...rest } = await child;
    assert.deepEqual(rest, { runtime, rounds: R });
    // a wait on the wrong word returns at once ("not-equal") and is retried in a busy loop
    assert.ok(Number(naps) <= 3 * R && waits <= 3 * R, `${naps} naps there, ${waits} waits here for ${R} rounds`);
    assert.equal(Atomics.load(r.i32, 259), 2 * R);
    assert.ok(R / s > 50, `${(R / s).toFixed(0)} round trips/s: wake-ups were lost`);
  });

  it("Dict over a region grows by committing pages (Heap → region.grow); another process reads every entry", async () => {
    const maxBytes = 8 << 20;
    const r = shm.track(ShmRegion.create(shm.ffi, { maxBytes, initialBytes: 64 * 1024 }));
    r.u8.set(new Uint8Array(DictEngine.create({ maxBytes, initialBytes: 64 * 1024 }).buffer));
    const d = new DictEngine(r.buffer as unknown as SharedArrayBuffer);
    const N = 20_000;
    for (let i = 0; i < N; i++) d.set("k" + i, valueOfKey(i));
    assert.ok(r.committed > 1 << 20, `the region committed more as the dict grew: ${r.committed}`);
    assert.ok(r.committed <= maxBytes);
    const seen = await run("self", ["dict-read", r.name, N]);
    assert.deepEqual([seen.size, seen.wrong], [N, 0]);
    // past maxBytes: CapacityError, and what was there stays
    assert.throws(() => {
      for (let i = 0;; i++) d.set("big" + i, "x".repeat(60_000));
    }, (e) => e instanceof CapacityError);
    assert.ok(r.committed <= maxBytes);
    assert.equal(d.get("k123"), valueOfKey(123));
  });

  it("Lock over a region: timeouts (sync and async) and an abort end waits on a held lock", async () => {
    const r = region(new LockEngine().buffer);
    const lock = new LockEngine(r.buffer as unknown as SharedArrayBuffer);
    lock.acquireSync(8001);
    let t0 = performance.now();
    assert.throws(() => lock.acquireSync(8002, { timeout: 50 }), (e: LockError) => e.reason === "Timeout");
    assert.ok(performance.now() - t0 >= 49, "the sync timeout came early");
    t0 = performance.now();
    await assert.rejects(lock.acquire(8002, { timeout: 50 }), (e: LockError) => e.reason === "Timeout");
    assert.ok(performance.now() - t0 >= 49, "the async timeout came early");
    const ac = new AbortController();
    const waiting = lock.acquire(8002, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    t0 = performance.now();
    await assert.rejects(waiting, (e: LockError) => e.reason === "Aborted");
    // the abort ends a wait that has no timeout (how fast is the bench's business, not a test's)
    assert.ok(performance.now() - t0 < 10_000, `the abort took ${(performance.now() - t0).toFixed(0)} ms`);
    lock.release(8001);
    assert.equal(lock.locked(), false);
  });

  it("kernel: a SharedArrayBuffer cannot be registered as foreign", () => {
    assert.throws(
      () => registerForeignBuffer(new SharedArrayBuffer(8) as unknown as ArrayBuffer, regionWaiter(region())),
      /Cannot register foreign buffer as a SharedArrayBuffer is waited on with Atomics/,
    );
  });

  it("ShareableList: a reader process never sees a torn item while a writer process rewrites them", async () => {
    const items = ShareableListEngine.encodeAll(Array.from({ length: 4 }, () => "a".repeat(48)));
    const size = ShareableListEngine.bytesFor(items);
    const shm = SharedMemoryEngine.create(Registry.create(), undefined, size);
    ShareableListEngine.layOut(shm, items);
    const r = region(shm.buffer.slice(0, size));
    const W = 200_000;
    const [writer, reader] = await Promise.all([
      run("self", ["list-write", r.name, size, 5001, W]),
      run("self", ["list-read", r.name, size, 5002]),
    ]);
    assert.equal(writer.writes, W);
    assert.equal(Atomics.load(r.i32, DONE), 1);
    assert.equal(reader.torn, 0);
    assert.ok(Number(reader.reads) > 0);
    assert.ok(Number(reader.distinct) >= 2, "the reader did not overlap the writer");
    console.log(`# ${runtime} ShareableList: ${reader.reads} reads by another process during ${W} writes, 0 torn`);
  });
});
