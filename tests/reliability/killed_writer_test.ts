/**
 * A thread terminated in the middle of a write never freezes nor corrupts a
 * shared-buffer structure (issue 8, item 1). Workers loop mixed writes on a
 * Dict, a List and a ShareableList and are terminated — at random moments,
 * and frozen at a chosen point of a journaled step (armed, all written,
 * committed with the window still open) — while the main thread reads
 * asynchronously. After each kill: the awaiting read resolves, every entry
 * decodes to a value the worker could have written, the size equals the
 * entries, the table and the allocator's free lists are sound, and new
 * writes work. The heavier version is scripts/soak/killed_writer.ts.
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LockError, Manager, spawn } from "../../mod.ts";
import type { DictEngine } from "../../structures/dict.ts";
import { setReadLimit, STEP_ARMED, STEP_COMMITTED, STEP_WRITTEN } from "../../structures/_seqlock.ts";
import { F_FROZEN, FLAG_WORDS, isWritten, valueOf } from "../fixtures/killed_writer_worker.ts";
import { assertSound, create, DENO, engineOf, killRound, raised, within } from "../fixtures/killed_writer_rounds.ts";

const WORKER = new URL("../fixtures/killed_writer_worker.ts", import.meta.url);

/**
 * Rounds of random kills per structure, and writers killed per round (they
 * start in parallel). Deno's `terminate()` does not stop a worker that runs
 * without yielding, yet reports its exit (so it would be declared dead while
 * it still writes): there a random kill is a freeze at the step point the
 * writer is at when told to stop, one writer at a time (a second one could
 * be waiting for the lock, not at a step point, and go on as a zombie).
 */
const RANDOM_ROUNDS = DENO ? 3 : 1;
const WRITERS = DENO ? 1 : 3;

for (const kind of ["dict", "list", "shareableList"] as const) {
  describe(`a ${kind} whose writer threads are terminated mid-write`, () => {
    it(`stays sound after ${RANDOM_ROUNDS} rounds of ${WRITERS} writer(s) killed at random moments`, async () => {
      await using m = await Manager.start();
      const s = await create(m, kind);
      for (let t = 0; t < RANDOM_ROUNDS; t++) {
        await killRound(kind, s, Array.from({ length: WRITERS }, (_, k) => 1000 + t * 7919 + k * 31), DENO ? -1 : 0);
        assertSound(kind, s, `random round ${t}`);
      }
    });

    it("stays sound after a writer is killed at each point of a journaled step", async () => {
      await using m = await Manager.start();
      const s = await create(m, kind);
      const seen: number[] = [];
      // armed (nothing written yet), all written (journal armed), committed; then inside an odd window;
      // then all written with every logged word scribbled over (killed half-way through any of them)
      const plan = [[1, false, false], [2, false, false], [3, false, false], [1, true, true], [
        2,
        false,
        true,
      ]] as const;
      for (const [t, [killAt, odd, scribble]] of plan.entries()) {
        const [point] = await killRound(kind, s, [77 + t * 104729], killAt, odd, scribble);
        seen.push(point);
        assertSound(kind, s, `step kill ${t}`);
      }
      assert.deepEqual(seen.slice(0, 3), [STEP_ARMED, STEP_WRITTEN, STEP_COMMITTED]);
      assert.notEqual(seen[3], STEP_ARMED, "frozen inside the window");
    });
  });
}

describe("a reader whose writer died inside its window", () => {
  it("sync reads in the parent fail with LockError Timeout until the death is seen, then recover", async () => {
    await using m = await Manager.start();
    const d = await m.dict<string, string>();
    d.setSync("k1", valueOf(1, 2));
    const flags = new Int32Array(new SharedArrayBuffer(FLAG_WORDS * 4));
    // freeze at the first step point inside an odd window
    const w = spawn(WORKER, { args: [d, "dict", flags.buffer, 5, 1, 0, true] });
    const done = w.join().catch((e: unknown) => e);
    assert.notEqual(await within(raised(flags, F_FROZEN), 20_000, "the worker's freeze"), 0);
    const engine = engineOf<DictEngine>(d);
    // the window is open: a non-blocking read says so at once rather than spinning
    assert.equal(engine.seq.tryReadBegin(), -1);
    // a sync read cannot see the death its own thread has yet to be told of: it gives up, typed
    setReadLimit(100);
    assert.throws(() => d.getSync("k1"), (e: unknown) => e instanceof LockError && e.reason === "Timeout");
    setReadLimit(undefined);
    const reading = d.get("k1");
    // the async API never blocks the event loop either, and its calls complete in the order they were made
    const writing = Promise.all([d.set("k2", valueOf(2, 2)), d.set("k2", valueOf(4, 2))]);
    const readingBack = d.get("k2");
    await w.terminate();
    await done;
    assert.ok(isWritten(await within(reading, 10_000, "the async read")));
    await within(writing, 10_000, "the async writes");
    assert.equal(await readingBack, valueOf(4, 2), "a read sees the writes made before it");
    assert.equal(d.getSync("k2"), valueOf(4, 2));
    assert.equal(engine.seq.tryReadBegin() >= 0, true);
    assertSound("dict", d, "after the frozen writer");
  });
});
