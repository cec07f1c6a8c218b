/**
 * Client processes SIGKILLed in the middle of their work on a socket
 * manager: a lock holder's lock passes on, told `ownerDied`; a producer's
 * queue holds exactly the prefix 0, 1, … k of what it put (nothing torn,
 * nothing twice); a writer's dict holds whole values only, its size equal to
 * its entries; and the server goes on serving.
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { Manager, spawn } from "../../mod.ts";
import { TRANSPORTS } from "../_transports.ts";

const worker = new URL("../fixtures/killed_process_worker.ts", import.meta.url);
const socket = TRANSPORTS.find((t) => !t.local)!;

async function killedWhileWorking(m: Manager, mode: "hold" | "produce" | "write") {
  const started = await m.event();
  const lock = await m.lock();
  const q = await m.queue<number>();
  const d = await m.dict<string, { i: number; pad: string }>();
  const w = spawn(worker, { args: [mode, started, lock, q, d], as: "process" });
  assert.equal(await started.wait({ timeout: 30_000 }), true, "the child got under way");
  process.kill(w.pid!, "SIGKILL");
  await assert.rejects(w.join(), { name: "WorkerError" });
  return { lock, q, d };
}

describe(`client processes SIGKILLed mid-work, ${socket.name}`, () => {
  it("a lock holder: the lock passes on within the timeout, told ownerDied", { timeout: 60_000 }, async () => {
    await using m = await socket.start();
    const { lock } = await killedWhileWorking(m, "hold");
    const p = await lock.acquire({ timeout: 5000 });
    assert.equal(p.ownerDied, true);
    await p.release();
  });

  it("a producer: the queue holds a gapless prefix of what it put", { timeout: 60_000 }, async () => {
    await using m = await socket.start();
    const { q } = await killedWhileWorking(m, "produce");
    const n = await q.qsize();
    assert.ok(n > 100, `at least the first 101 items arrived: ${n}`);
    for (let i = 0; i < n; i++) assert.equal(await q.getNowait(), i);
    assert.equal(await q.empty(), true);
    await q.put(-1);
    assert.equal(await q.get({ timeout: 1000 }), -1);
  });

  it("a writer: every value is whole and size equals the entries", { timeout: 60_000 }, async () => {
    await using m = await socket.start();
    const { d } = await killedWhileWorking(m, "write");
    const entries = await d.entries();
    assert.equal(entries.length, await d.size());
    assert.equal(entries.length, 50);
    for (const [k, v] of entries) {
      assert.equal(k, "k" + (v.i % 50));
      assert.equal(v.pad, String(v.i % 10).repeat(1 + (v.i % 200)));
    }
    await d.set("after", { i: -1, pad: "" });
    assert.deepEqual(await d.get("after"), { i: -1, pad: "" });
  });
});
