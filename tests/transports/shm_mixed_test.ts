/**
 * Mixed runtimes through the `shm:` transport (issue 9, acceptance 6): a
 * Node, a Deno and a Bun process `Manager.connect` to one shm manager
 * started here and share a Dict, a Queue and a Lock by name. Past a
 * Barrier, so that they overlap, each makes N
 * locked read-modify-writes (a read, then a write) of one key of the dict
 * and of a key of its own, and puts M items on a bounded queue that this
 * process drains meanwhile: the totals are exact, and every process's items
 * arrive whole, once each, in the order it put them.
 * @module
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Manager } from "../../mod.ts";
import { runtime } from "../../transports/_runtime/runtime.ts";
import { run } from "./_shm.ts";

const CHILD = new URL("../fixtures/shm_mixed_child.ts", import.meta.url);
const RUNTIMES = ["node", "deno", "bun"] as const;

let m: Manager;
before(async () => {
  m = await Manager.start({ transport: "shm:" });
});
after(async () => {
  await m.shutdown();
});

describe(`shm: shared by node, deno and bun processes (tests run on ${runtime})`, () => {
  it("each makes N locked increments of a Dict and puts M items on a Queue drained here: exact totals", {
    timeout: 120_000,
  }, async () => {
    const N = 2_000;
    const M = 500;
    const d = await m.dict<string, number>({ count: 0 }, { name: "d" });
    const q = await m.queue<[string, number]>({ maxsize: 16, name: "q" });
    const lock = await m.lock({ name: "lock" });
    await m.barrier(RUNTIMES.length, { name: "start" });
    const children = Promise.all(
      RUNTIMES.map((which) => run(CHILD, [m.address!, which, N, M], { which, limitMs: 100_000 })),
    );
    const next = new Map<string, number>(RUNTIMES.map((w) => [w, 0]));
    for (let k = 0; k < RUNTIMES.length * M; k++) {
      const [who, i] = await q.get({ timeout: 60_000 });
      assert.equal(i, next.get(who), `${who}'s items arrive in the order put, once each`);
      next.set(who, i + 1);
    }
    assert.deepEqual(await children, RUNTIMES.map((which) => ({ runtime: which, who: which })));
    assert.deepEqual([...next], RUNTIMES.map((w) => [w, M]));
    assert.equal(q.qsizeSync(), 0);
    assert.equal(d.getSync("count"), RUNTIMES.length * N);
    for (const w of RUNTIMES) assert.equal(d.getSync(w), N, `${w}'s own count`);
    assert.equal(await lock.locked(), false);
  });
});
