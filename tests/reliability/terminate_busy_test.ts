/**
 * `terminate()` of a thread busy in a loop that never yields: after it, the
 * thread never writes shared state again and what it held passes on. Node
 * and Bun stop such a thread; Deno's `terminate()` does not (its exit event
 * fires while the thread keeps running), so procshare asks the thread to
 * stop through its registry slot and the thread halts, marking itself dead,
 * at its next procshare call.
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Manager, spawn } from "../../mod.ts";

const worker = new URL("../fixtures/busy_writer_worker.ts", import.meta.url);

/** Resolves once `f[0]` is non-zero (the worker started writing), without blocking this thread. */
async function started(f: Int32Array): Promise<void> {
  while (Atomics.load(f, 0) === 0) {
    const r =
      (Atomics as unknown as { waitAsync?: (a: Int32Array, i: number, v: number, t: number) => { value: unknown } })
        .waitAsync?.(f, 0, 0, 50);
    if (r && r.value instanceof Promise) await r.value;
    else await new Promise((resolve) => setImmediate(resolve));
  }
}

describe("terminate() of a thread busy writing", () => {
  it("leaves the dict to the others: the thread never writes again", { timeout: 30_000 }, async () => {
    await using m = await Manager.start();
    const d = await m.dict<string, number>();
    const flags = new SharedArrayBuffer(4);
    const w = spawn(worker, { args: [d, flags], as: "thread" });
    await started(new Int32Array(flags));
    await w.terminate();
    await assert.rejects(w.join(), { name: "WorkerError" });
    // the writer lock passes on (taken over from the halted or stopped thread)
    await d.set("k", -1);
    // 2,000 turns of this thread's event loop: a thread still writing would overwrite -1 within microseconds
    for (let i = 0; i < 2000; i++) {
      assert.equal(await d.get("k"), -1, `read ${i} saw the terminated thread's write`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(d.sizeSync(), 1);
  });
});
