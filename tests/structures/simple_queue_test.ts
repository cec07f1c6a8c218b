import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Shared } from "../../core/structure.ts";
import { Queue, queueSpec } from "../../structures/queue.ts";
import { JoinableQueue, joinableQueueSpec } from "../../structures/joinable_queue.ts";
import { SimpleQueue, simpleQueueSpec } from "../../structures/simple_queue.ts";
import { TRANSPORTS } from "../_transports.ts";

for (const t of TRANSPORTS) {
  describe(`SimpleQueue over ${t.name}`, () => {
    test("putNowait never fails and full is always false: it has no bound", async () => {
      await using m = await t.start();
      const q = await m.simpleQueue<number>();
      assert.equal(await q.full(), false);
      for (let i = 0; i < 200; i++) await q.putNowait(i);
      assert.equal(await q.full(), false);
      assert.equal(await q.qsize(), 200);
      for (let i = 0; i < 200; i++) assert.equal(await q.getNowait(), i);
      assert.equal(await q.empty(), true);
    });
  });
}

/** The public async methods of a client class: its prototype chain below `Shared`, Sync twins excepted. */
function surface(cls: { prototype: object }): string[] {
  const names = new Set<string>();
  for (let p = cls.prototype; p && p !== Shared.prototype; p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) {
      const d = Object.getOwnPropertyDescriptor(p, name)!;
      if (name !== "constructor" && typeof d.value === "function" && !name.endsWith("Sync")) names.add(name);
    }
  }
  return [...names].sort();
}

describe("Queue kinds: the client's surface is its op table", () => {
  for (
    const [cls, spec] of [[Queue, queueSpec], [JoinableQueue, joinableQueueSpec], [
      SimpleQueue,
      simpleQueueSpec,
    ]] as const
  ) {
    test(`${cls.name} (${spec.kind})`, () => {
      assert.deepEqual(surface(cls), Object.keys(spec.ops).sort());
    });
  }
});
