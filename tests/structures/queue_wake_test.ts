/**
 * Wake-ups of a Queue under stress: a put wakes a sleeping getter once per
 * sleep (and a get a sleeping putter of a full queue), never once per item,
 * and no wake-up may be lost meanwhile. Many producers and consumers in
 * worker threads share a queue of 2 to 4 places, and each of them waits
 * every way there is (Sync and async, with timeouts and aborting signals
 * that fire at any point of a wait, see fixtures/queue_stress_worker.ts):
 * every item must arrive exactly once, in its producer's order for each
 * consumer, and every get must return (a lost wake-up that nobody repairs
 * would leave a consumer asleep; the watchdog then fails the test).
 * @module
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "../../mod.ts";
import { TRANSPORTS } from "../_transports.ts";
import type stressWorker from "../fixtures/queue_stress_worker.ts";
import { SPAN, STOP } from "../fixtures/queue_stress_worker.ts";

const worker = new URL("../fixtures/queue_stress_worker.ts", import.meta.url);

/** Fails instead of hanging when `p` has not settled within `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watchdog = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms: a waiter never woke`)), ms);
  });
  try {
    return await Promise.race([p, watchdog]);
  } finally {
    clearTimeout(timer);
  }
}

/** Checks that every item of every producer arrived once, in its producer's order for each consumer. */
function checkExact(got: readonly (readonly number[])[], producers: number, count: number): void {
  const seen = new Uint8Array(producers * count);
  for (const items of got) {
    const last = new Array<number>(producers).fill(-1);
    for (const x of items) {
      const p = Math.floor(x / SPAN), k = x % SPAN;
      assert.ok(p >= 0 && p < producers && k < count, `an item nobody put: ${x}`);
      assert.ok(k > last[p], `producer ${p}'s item ${k} after its item ${last[p]}`);
      last[p] = k;
      assert.equal(seen[p * count + k], 0, `item ${x} got twice`);
      seen[p * count + k] = 1;
    }
  }
  const missing = seen.indexOf(0);
  assert.equal(missing, -1, `item ${Math.floor(missing / count) * SPAN + (missing % count)} lost`);
}

for (const t of TRANSPORTS.filter((t) => t.local)) {
  describe(`Queue wake-ups over ${t.name}`, () => {
    for (
      const { producers, consumers, maxsize, count } of [
        { producers: 2, consumers: 4, maxsize: 2, count: 2000 },
        { producers: 4, consumers: 2, maxsize: 3, count: 1000 },
      ]
    ) {
      test(`${producers} producers and ${consumers} consumers in threads, maxsize ${maxsize}, every way of waiting: each item once, every get returns`, async () => {
        await using m = await t.start();
        const q = await m.queue<number>({ maxsize });
        const start = (role: "producer" | "consumer", id: number) =>
          spawn<typeof stressWorker>(worker, { args: [q, role, id, count] });
        const cs = Array.from({ length: consumers }, (_, i) => start("consumer", i));
        const ps = Array.from({ length: producers }, (_, i) => start("producer", i));
        await within(Promise.all(ps.map((p) => p.join())), 60_000, "the producers");
        for (let i = 0; i < consumers; i++) await q.put(STOP, { timeout: 60_000 });
        const results = await within(Promise.all(cs.map((c) => c.join())), 60_000, "the consumers");
        checkExact(results.map((r) => r.got), producers, count);
        assert.equal(await q.qsize(), 0);
        // the waits that gave up did give up, some of them (else this test would not test leaving)
        const gaveUp = results.reduce((n, r) => n + r.gaveUp.timeouts + r.gaveUp.aborts, 0);
        assert.ok(gaveUp > 0, "no get gave up");
      });
    }
  });
}
