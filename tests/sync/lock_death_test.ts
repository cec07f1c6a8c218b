import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "../../mod.ts";
import { TRANSPORTS } from "../_transports.ts";

/** Resolves once flags[0] is 1, without blocking the event loop. */
async function raised(flags: Int32Array): Promise<void> {
  while (Atomics.load(flags, 0) === 0) {
    const r = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, t: number): { value: unknown } })
      .waitAsync(flags, 0, 0, 50);
    await Promise.race([r.value, new Promise((resolve) => setTimeout(resolve, 50))]);
  }
}

for (const t of TRANSPORTS) {
  describe(`Lock owner death over ${t.name}`, () => {
    test("a worker terminated holding the lock: the next acquirer gets it within 1 s, told ownerDied", async () => {
      await using m = await t.start();
      const lock = await m.lock();
      const flags = new Int32Array(new SharedArrayBuffer(4));
      const w = spawn(new URL("../fixtures/hold_lock_worker.ts", import.meta.url), { args: [lock, flags.buffer] });
      await raised(flags);
      assert.equal(await lock.locked(), true);
      await w.terminate();
      const permit = await lock.acquire({ timeout: 1000 });
      assert.equal(permit.ownerDied, true);
      await permit.release();
      const again = await lock.acquire({ timeout: 1000 });
      assert.equal(again.ownerDied, false);
      await again.release();
    });
  });
}
