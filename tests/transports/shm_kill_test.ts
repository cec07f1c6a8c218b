/**
 * Processes SIGKILLed while using structures of an `shm:` manager (issue 9,
 * acceptance 4), through the transport: the structures' memory is shared,
 * so the dead process held their locks itself and may have died in the
 * middle of a write.
 *
 * - A child holding a Lock, an RLock (twice) and a Semaphore's one permit
 *   is SIGKILLed: this process acquires each, told `ownerDied` (the waiter
 *   finds the holder's process gone: no timing is asserted, a generous
 *   timeout turns a hang into a failure).
 * - Children writing a Dict and a List by turns in a loop of mixed
 *   operations (killed_writer_worker.ts) are SIGKILLed at a random moment,
 *   or frozen at each step point of a write (armed, written, committed) and
 *   killed there, holding the lock of the structure they wrote (checked):
 *   afterwards every structure is sound (size equals the entries iterated,
 *   every value one a writer wrote, the engine's own check finds nothing)
 *   and a follow-up write and read work.
 * @module
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Dict, type List, Manager } from "../../mod.ts";
import { runtime } from "../../transports/_runtime/runtime.ts";
import { assertSound, engineOf, type Kind, type Target } from "../fixtures/killed_writer_rounds.ts";
import { child } from "./_shm.ts";

const CHILD = new URL("../fixtures/shm_kill_child.ts", import.meta.url);
/** Long enough for a loaded machine; a lock that never passes on fails here rather than hangs. */
const LIMIT_MS = 30_000;

let m: Manager;
before(async () => {
  m = await Manager.start({ transport: "shm:" });
});
after(async () => {
  await m.shutdown();
});

/** Starts a child on the manager; resolves with its first line, then SIGKILLs it and waits until it is reaped. */
async function killedAfterFirstLine(args: (string | number)[], jitter = 0): Promise<Record<string, unknown>> {
  const c = child(CHILD, [m.address!, ...args], { limitMs: 60_000 });
  try {
    const line = await c.first;
    // jitter, not synchronisation: a random while further into the writer's loop
    for (const t0 = performance.now(); performance.now() - t0 < jitter;);
    return line;
  } finally {
    c.process.kill("SIGKILL");
    const { signal } = await c.closed;
    assert.equal(signal, "SIGKILL");
  }
}

describe(`shm: processes SIGKILLed mid-work (tests run on ${runtime})`, () => {
  it("a holder of a Lock, an RLock and a Semaphore: each passes to this process, told ownerDied", {
    timeout: 120_000,
  }, async () => {
    const lock = await m.lock({ name: "lock" });
    const rlock = await m.rlock({ name: "rlock" });
    const sem = await m.semaphore(1, { name: "sem" });
    const { held } = await killedAfterFirstLine(["hold"]);
    assert.equal(typeof held, "number");
    const permits = [
      await lock.acquire({ timeout: LIMIT_MS }),
      await rlock.acquire({ timeout: LIMIT_MS }),
      await sem.acquire({ timeout: LIMIT_MS }),
    ];
    assert.deepEqual(permits.map((p) => p.ownerDied), [true, true, true]);
    // this process holds each now, once: a second acquire waits (RLock: re-enters)
    assert.equal(lock.tryAcquireSync(), undefined);
    assert.equal(sem.tryAcquireSync(), undefined);
    const again = rlock.acquireSync({ timeout: 0 });
    assert.equal(again.ownerDied, false);
    again.release();
    for (const p of permits) await p.release();
    assert.equal(await lock.locked(), false);
    assert.equal(await sem.value(), 1);
    assert.equal(lock.acquireSync({ timeout: 0 }).ownerDied, false, "a free lock: no ownerDied");
    lock.releaseSync();
  });

  /**
   * Starts a writer per group of names (its structures, written by turns), kills them all (see the fixture),
   * then checks every structure; resolves with the writers' lines.
   */
  async function killWriters(groups: string[][], seed: number, at: (k: number) => number) {
    const names = groups.flat();
    const structures = await Promise.all(
      names.map((name) =>
        name.startsWith("dict") ? m.dict<string, string>(undefined, { name }) : m.list<string>(undefined, { name })
      ),
    );
    const lines = await Promise.all(
      groups.map((g, k) => killedAfterFirstLine(["write", g.join(","), seed + k, at(k)], (seed % 7) * 0.05)),
    );
    // which structures the dead writers left locked, before anything here touches them
    const held = structures.map((s) => {
      const { seq } = engineOf<{ seq: { i32: Int32Array; lockWord: number } }>(s as Target);
      return Atomics.load(seq.i32, seq.lockWord) !== 0;
    });
    for (const [k, s] of structures.entries()) {
      const kind: Kind = names[k].startsWith("dict") ? "dict" : "list";
      // an async read first: it must settle though the dead writer's window may be open
      if (kind === "dict") await (s as Dict<string, string>).get("k1");
      else await (s as List<string>).length();
      assertSound(kind, s as Dict<string, string> | List<string>, `${names[k]} (seed ${seed})`);
    }
    return { lines, held };
  }

  it("writers of Dicts and Lists SIGKILLed at random moments: each structure is sound", {
    timeout: 120_000,
  }, async () => {
    const { lines } = await killWriters([["dict-r0", "list-r0"], ["dict-r1", "list-r1"]], 11, () => 0);
    assert.deepEqual(lines, [{ started: true }, { started: true }]);
  });

  it("writers SIGKILLed at each step point of a write (armed, written, committed): each is sound", {
    timeout: 120_000,
  }, async () => {
    const points = [1, 2, 3];
    const { lines, held } = await killWriters(points.map((p) => [`dict-at${p}`, `list-at${p}`]), 23, (k) => points[k]);
    assert.deepEqual(lines, points.map((frozen) => ({ frozen })));
    // each writer died holding the lock of the structure it was writing (its dict or its list): this
    // process took it over from a dead process and repaired what the write left (assertSound)
    assert.deepEqual(points.map((_, k) => held[2 * k] !== held[2 * k + 1]), points.map(() => true), `${held}`);
  });
});
