/**
 * Temporary sample that proves the test pipeline: one file, run unchanged by
 * Node (tsx), Deno and Bun through scripts/test.mjs. Delete once real tests
 * exist.
 * @module
 */
import { describe, it, test } from "node:test";
import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";

describe("smoke: describe/it", () => {
  it("adds", () => {
    assert.equal(1 + 1, 2);
  });

  it("compares structures", () => {
    assert.deepEqual({ a: [1, 2] }, { a: [1, 2] });
  });
});

test("smoke: async test", async () => {
  const value = await new Promise<number>((resolve) => setTimeout(() => resolve(42), 10));
  assert.equal(value, 42);
});

test("smoke: worker thread shares a SharedArrayBuffer and syncs with Atomics", async () => {
  // Word 0: flag the worker waits on; word 1: value the worker writes back.
  const FLAG = 0;
  const RESULT = 1;
  const shared = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  const source = `
    const { workerData } = require("node:worker_threads");
    const words = new Int32Array(workerData);
    Atomics.wait(words, ${FLAG}, 0);
    Atomics.store(words, ${RESULT}, Atomics.load(words, ${FLAG}) * 2);
    Atomics.notify(words, ${RESULT});
  `;
  const worker = new Worker(source, { eval: true, workerData: shared.buffer });
  try {
    const exited = new Promise<number>((resolve, reject) => {
      worker.once("exit", resolve);
      worker.once("error", reject);
    });
    Atomics.store(shared, FLAG, 21);
    Atomics.notify(shared, FLAG);
    // Block the main thread until the worker answers (at most 10 s).
    assert.notEqual(Atomics.wait(shared, RESULT, 0, 10_000), "timed-out");
    assert.equal(Atomics.load(shared, RESULT), 42);
    assert.equal(await exited, 0);
  } finally {
    await worker.terminate();
  }
});
