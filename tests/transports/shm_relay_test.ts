/**
 * Async futex waits of `shm:` (transports/shm/_relay.ts) on the running
 * runtime, with real OS processes: 64 waits in this process woken by another
 * process each resolve "ok" (relay and polling fallback), past the relay's
 * 127 words too; 200 waits on different words woken one by one each settle
 * only after their own word moved; a wake-up of a word whose wait timed out
 * never settles a later wait that reuses its relay slot; timeouts, aborts
 * (also while the relay is parked on another word) and mismatches settle
 * and stop the watch;
 * the runtime's thread pool and event loop stay free while 64 waits are
 * pending; a process whose waits are done (or that exits with waits pending)
 * ends by itself. Prints wake-ups/s for 64 waiters woken by another process.
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { SharedMemoryError } from "../../errors.ts";
import type { Ffi } from "../../transports/shm/_ffi.ts";
import { ShmRegion } from "../../transports/shm/_region.ts";
import {
  type AsyncWaiter,
  asyncWaiter,
  type AsyncWaitResult,
  createAsyncWaiter,
  hasFutexWaitv,
  RELAY_CAPACITY,
  waitAsync,
} from "../../transports/shm/_relay.ts";
import { runtime } from "../../transports/_runtime/runtime.ts";
import { type Child, child as start, useShm } from "./_shm.ts";

const FIXTURE = new URL("../fixtures/shm_relay_child.ts", import.meta.url);
/** Words of the fixture's layout (tests/fixtures/shm_relay_child.ts). */
const GO = 0;
const BASE = 16;
const N = 64;
/** A wait that takes this long counts as a lost wake-up. */
const LONG_MS = 10_000;

/** Runs the fixture in a child process of this runtime; killed after 30 s. */
function child(args: string[]): Child {
  return start(FIXTURE, args);
}

let ffi: Ffi;
const shm = useShm((f) => ffi = f);

function region(): ShmRegion {
  return shm.region();
}

/** Sets the GO word and wakes whoever blocks on it. */
function go(r: ShmRegion): void {
  Atomics.store(r.i32, GO, 1);
  r.notify(GO);
}

/** 64 waits on words BASE+i (expecting 0), woken by a `wake` child; every one must resolve "ok". */
async function wokenByAnotherProcess(waiter: AsyncWaiter, n = N): Promise<void> {
  const r = region();
  const waits: Promise<AsyncWaitResult>[] = [];
  for (let i = 0; i < n; i++) waits.push(waiter.waitAsync(r, BASE + i, 0, LONG_MS));
  assert.equal(waiter.pending, n);
  const c = child(["wake", r.name, String(n)]);
  go(r);
  const results = await Promise.all(waits);
  assert.deepEqual(results, Array(n).fill("ok"));
  assert.equal((await c.done).lines.at(-1)?.woke, n);
  assert.equal(waiter.pending, 0);
  assert.equal(waiter.watching, 0);
}

describe(`shm async waits on ${runtime}`, () => {
  it("this kernel has futex_waitv, and this thread's waiter uses the relay", async () => {
    // Linux >= 5.16; elsewhere the polling fallback serves (tested below)
    assert.equal(hasFutexWaitv(ffi), true);
    assert.equal((await asyncWaiter()).mode, "relay");
  });

  it("64 concurrent waits in this process, woken by another OS process, each resolve 'ok'", async () => {
    await wokenByAnotherProcess(await asyncWaiter());
  });

  it("past the relay's 127 words the rest are polled: 200 waits woken by another process all resolve 'ok'", async () => {
    assert.equal(RELAY_CAPACITY, 127);
    await wokenByAnotherProcess(await asyncWaiter(), 200);
  });

  it("fallback (polling, 1 to 20 ms): 64 waits woken by another process each resolve 'ok'", async () => {
    const waiter = createAsyncWaiter(ffi, { mode: "poll" });
    assert.equal(waiter.mode, "poll");
    await wokenByAnotherProcess(waiter);
    await waiter.close();
  });

  it("a wait times out with 'timeout' and its word is no longer watched", async () => {
    const waiter = await asyncWaiter();
    const r = region();
    const t0 = performance.now();
    assert.equal(await waitAsync(r, 3, 0, 30), "timeout");
    assert.ok(performance.now() - t0 >= 29, "the timeout elapsed");
    assert.equal(await waitAsync(r, 3, 0, 0), "timeout");
    assert.equal(waiter.pending, 0);
    assert.equal(waiter.watching, 0);
    const polling = createAsyncWaiter(ffi, { mode: "poll" });
    assert.equal(await polling.waitAsync(r, 3, 0, 30), "timeout");
    assert.equal(polling.watching, 0);
    await polling.close();
  });

  it("an abort settles the wait with 'aborted' and its word is no longer watched; other waits on it go on", async () => {
    const waiter = await asyncWaiter();
    const r = region();
    const ac = new AbortController();
    const aborted = waitAsync(r, 4, 0, LONG_MS, ac.signal);
    const other = waitAsync(r, 4, 0, LONG_MS);
    const alone = waitAsync(r, 5, 0, LONG_MS, ac.signal);
    assert.equal(waiter.watching, 2);
    ac.abort();
    assert.equal(await aborted, "aborted");
    assert.equal(await alone, "aborted");
    assert.equal(waiter.watching, 1);
    assert.equal(await waitAsync(r, 4, 0, LONG_MS, AbortSignal.abort()), "aborted");
    Atomics.store(r.i32, 4, 1);
    r.notify(4);
    assert.equal(await other, "ok");
    assert.equal(waiter.pending, 0);
    assert.equal(waiter.watching, 0);
  });

  it("200 waits on different words of 2 regions, woken one by one in reverse order: each settles only after its own word moved", async () => {
    const waiter = await asyncWaiter();
    const regions = [region(), region()];
    const n = 100;
    const settled: boolean[][] = regions.map(() => Array(n).fill(false));
    const waits = regions.flatMap((r, j) =>
      Array.from({ length: n }, (_, i) =>
        waitAsync(r, BASE + i, 0, LONG_MS).then((res) => {
          assert.equal(Atomics.load(r.i32, BASE + i), 1, `word ${i} of region ${j} settled '${res}' before it moved`);
          settled[j][i] = true;
          return res;
        }))
    );
    assert.equal(waiter.pending, 2 * n);
    for (let i = n - 1; i >= 0; i--) {
      for (const r of regions) {
        Atomics.store(r.i32, BASE + i, 1);
        r.notify(BASE + i);
      }
    }
    const results = await Promise.all(waits);
    // past the relay's 127 words the rest are polled: they see their word move
    assert.deepEqual(results, Array(2 * n).fill("ok"));
    assert.ok(settled.flat().every((x) => x));
    assert.equal(waiter.watching, 0);
  });

  it("a timeout and an abort while the relay is parked on another word: both settle, the word is still woken by another process", async () => {
    const waiter = await asyncWaiter();
    const r = region();
    const parked = waitAsync(r, BASE, 0, LONG_MS); // woken by the child below
    const ac = new AbortController();
    const timed = waitAsync(r, BASE + 1, 0, 20);
    const aborted = waitAsync(r, BASE + 2, 0, LONG_MS, ac.signal);
    assert.equal(waiter.watching, 3);
    assert.equal(await timed, "timeout");
    ac.abort();
    assert.equal(await aborted, "aborted");
    assert.equal(waiter.watching, 1);
    const c = child(["wake", r.name, "1"]);
    go(r);
    assert.equal(await parked, "ok");
    assert.equal((await c.done).lines.at(-1)?.woke, 1);
    assert.equal(waiter.pending, 0);
    assert.equal(waiter.watching, 0);
  });

  it("a wake-up of a word whose wait timed out never settles a later wait on another word (the relay's slots are reused)", async () => {
    const waiter = await asyncWaiter();
    const r = region();
    for (let round = 0; round < 20; round++) {
      const stale = BASE + 2 * round;
      const fresh = stale + 1;
      assert.equal(await waitAsync(r, stale, 0, 1), "timeout"); // frees its slot; the relay may still watch it
      let freshSettled = false;
      const later = waitAsync(r, fresh, 0, LONG_MS).then((res) => {
        freshSettled = true;
        return res;
      });
      Atomics.store(r.i32, stale, 1);
      r.notify(stale);
      // a round trip through the relay: a report about the stale word would have come before this one
      const probe = waitAsync(r, 2, 0, LONG_MS);
      Atomics.store(r.i32, 2, 1);
      r.notify(2);
      assert.equal(await probe, "ok");
      Atomics.store(r.i32, 2, 0);
      assert.equal(freshSettled, false, `round ${round}: a wait on another word settled`);
      Atomics.store(r.i32, fresh, 1);
      r.notify(fresh);
      assert.equal(await later, "ok");
    }
    assert.equal(waiter.watching, 0);
  });

  it("idle, and while a wait is pending, the relay thread sleeps in futex_waitv (it burns no CPU)", async () => {
    const waiter = await asyncWaiter();
    const r = region();
    assert.equal(await waiter.waitAsync(r, 9, 0, 1), "timeout"); // the relay is up, and idle again
    /** The states of this process's threads blocked in futex_waitv (the kernel's futex_wait_multiple). */
    const relays = () =>
      readdirSync("/proc/self/task").flatMap((t) => {
        let wchan = "";
        try {
          wchan = readFileSync(`/proc/self/task/${t}/wchan`, "utf8");
        } catch {
          return []; // the thread ended meanwhile
        }
        const stat = readFileSync(`/proc/self/task/${t}/stat`, "utf8");
        return wchan === "futex_wait_multiple"
          ? [stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3)]
          : [];
      });
    // a relay that spun would be seen running (state R, no wait channel) in most samples
    for (const pending of [false, true]) {
      const before = waiter.relayRounds.waits;
      const wait = pending ? waiter.waitAsync(r, 10, 0, LONG_MS) : undefined;
      // until the relay has read the new list and gone back to futex_waitv with it
      while (pending && waiter.relayRounds.waits === before) await new Promise((resolve) => setImmediate(resolve));
      let asleep = 0;
      for (let i = 0; i < 20; i++) {
        await new Promise((resolve) => setImmediate(resolve));
        if (relays().join() === "S") asleep++;
      }
      assert.ok(asleep >= 10, `the relay slept in ${asleep} of 20 samples (pending: ${pending})`);
      if (wait !== undefined) {
        Atomics.store(r.i32, 10, 1);
        r.notify(10);
        assert.equal(await wait, "ok");
      }
    }
  });

  it("a relay waiter closed and used again starts a new relay that wakes its waits", async () => {
    const waiter = createAsyncWaiter(ffi, { mode: "relay" });
    const r = region();
    for (let round = 0; round < 3; round++) {
      const wait = waiter.waitAsync(r, 11, round, LONG_MS);
      Atomics.store(r.i32, 11, round + 1);
      r.notify(11);
      assert.equal(await wait, "ok");
      assert.equal(waiter.mode, "relay");
      await waiter.close();
    }
  });

  it("a word that does not hold the expected value is 'mismatch' at once; bad arguments and closed regions reject", async () => {
    const r = region();
    Atomics.store(r.i32, 6, 7);
    assert.equal(await waitAsync(r, 6, 8, LONG_MS), "mismatch");
    assert.equal(await waitAsync(r, 6, -1, LONG_MS), "mismatch");
    Atomics.store(r.i32, 6, -1);
    // -1 and 0xffffffff are one word value; the relay hands the kernel the unsigned one
    assert.equal(await waitAsync(r, 6, 0xffffffff, 20), "timeout");
    await assert.rejects(waitAsync(r, r.i32.length, 0, 1), RangeError);
    await assert.rejects(waitAsync(r, 1.5, 0, 1), RangeError);
    await assert.rejects(waitAsync(r, 0, 0, -1), RangeError);
    const closed = ShmRegion.open(ffi, r.name);
    closed.close();
    await assert.rejects(
      waitAsync(closed, 0, 0, 1),
      (e) => e instanceof SharedMemoryError && e.reason === "Closed",
    );
  });

  it("a wait on a region closed while it waits rejects with SharedMemoryError('Closed') on the relay's next pass", async () => {
    const r = region();
    const alias = ShmRegion.open(ffi, r.name);
    const closedWait = waitAsync(alias, 7, 0, LONG_MS);
    const settled = closedWait.then(() => "resolved", (e) => e);
    alias.close();
    const other = waitAsync(r, 8, 0, LONG_MS); // a new list: the relay meets the unmapped word (EFAULT)
    const e = await settled;
    assert.ok(e instanceof SharedMemoryError && e.reason === "Closed", String(e));
    Atomics.store(r.i32, 8, 1);
    r.notify(8);
    assert.equal(await other, "ok");
  });

  it("with 64 waits pending, fs.readFile completes (no thread-pool starvation) and a timer fires", async () => {
    const waiter = await asyncWaiter();
    const r = region();
    const waits: Promise<AsyncWaitResult>[] = [];
    for (let i = 0; i < N; i++) waits.push(waitAsync(r, BASE + i, 0, LONG_MS));
    // more reads than libuv's 4 pool threads, each needing a pool thread
    const files = await Promise.all(Array.from({ length: 8 }, () => readFile(fileURLToPath(import.meta.url), "utf8")));
    for (const f of files) assert.match(f, /no thread-pool starvation/);
    await new Promise((resolve) => setTimeout(resolve, 1));
    assert.equal(waiter.pending, N);
    for (let i = 0; i < N; i++) {
      Atomics.store(r.i32, BASE + i, 1);
      r.notify(BASE + i);
    }
    assert.deepEqual(await Promise.all(waits), Array(N).fill("ok"));
  });

  it("a process whose waits are done ends by itself with exit code 0 (woken, and timed out)", async () => {
    const r = region();
    const c = child(["await", r.name, String(N), "woken"]);
    assert.deepEqual(await c.first, { waiting: true });
    for (let i = 0; i < N; i++) {
      Atomics.store(r.i32, BASE + i, 1);
      r.notify(BASE + i);
    }
    const { code, lines } = await c.done;
    assert.equal(code, 0);
    assert.deepEqual(lines.at(-1), { results: Array(N).fill("ok") });
    const t = await child(["await", region().name, String(N), "timeout"]).done;
    assert.equal(t.code, 0);
    assert.deepEqual(t.lines.at(-1), { results: Array(N).fill("timeout") });
  });

  it("a process that calls process.exit with 64 waits pending exits (the relay does not hold it)", async () => {
    const { code, lines } = await child(["await", region().name, String(N), "exit"]).done;
    assert.equal(code, 0);
    assert.deepEqual(lines, [{ waiting: true }]);
  });

  it("measures wake-ups/s: 64 waits here, each woken in turn by another process, 300 rounds", async () => {
    for (const [n, rounds] of [[N, 300]]) {
      const r = region();
      const c = child(["pingpong", r.name, String(n), String(rounds)]);
      assert.deepEqual(await c.first, { ready: true });
      const t0 = performance.now();
      go(r);
      let waits = 0;
      await Promise.all(Array.from({ length: n }, async (_, i) => {
        for (let k = 1; k <= rounds; k++) {
          Atomics.store(r.i32, BASE + i, 2 * k - 1);
          r.notify(BASE + i);
          for (let v = Atomics.load(r.i32, BASE + i); v !== 2 * k; v = Atomics.load(r.i32, BASE + i)) {
            waits++;
            assert.notEqual(await waitAsync(r, BASE + i, v, LONG_MS), "timeout");
          }
        }
      }));
      const ms = performance.now() - t0;
      const { lines } = await c.done;
      assert.deepEqual(lines.at(-1), { rounds, timeouts: 0 });
      console.log(
        `  ${runtime}: ${Math.round((n * rounds) / ms * 1000)} wake-ups/s for ${n} async waiter(s) woken by another ` +
          `process (${n * rounds} hand-offs, ${waits} async waits, ${Math.round(ms)} ms)`,
      );
    }
  });
});
