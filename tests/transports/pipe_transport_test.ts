/**
 * The `pipe:` transport: a manager whose process children (spawn, process
 * Pool) reach it over an inherited descriptor, and whose threads over a
 * MessagePort, with no socket file and no authkey. Runs unchanged on Node,
 * Deno and Bun. The kinds' behaviour over it is in the files that run
 * `tests/_transports.ts`.
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type Counter from "../fixtures/custom_counter.ts";
import { LockError, Manager, Pool, spawn, TransportError, WorkerError } from "../../mod.ts";

const CHILD = new URL("../fixtures/pipe_child.ts", import.meta.url);
const COUNTER = new URL("../fixtures/custom_counter.ts", import.meta.url);
const INCREMENT = new URL("../fixtures/custom_increment_worker.ts", import.meta.url);

async function structures(m: Manager) {
  return {
    dict: await m.dict<string, number>(),
    lock: await m.lock(),
    q: await m.queue<string>(),
    started: await m.event(),
  };
}

describe("pipe: transport", () => {
  it("shares a dict, a queue and a lock with two child processes, exact totals", async () => {
    await using m = await Manager.start({ transport: "pipe:" });
    assert.equal(m.transport, "pipe:");
    assert.equal(m.address, undefined);
    assert.equal(m.authkey, undefined);
    const { dict, lock, q, started } = await structures(m);
    const n = 40;
    const children = ["a", "b"].map((tag) =>
      spawn(CHILD, { as: "process", args: ["count", dict, lock, q, started, n, tag] })
    );
    assert.deepEqual(await Promise.all(children.map((c) => c.join())), [n, n]);
    assert.equal(await dict.get("total"), 2 * n);
    assert.equal(await q.qsize(), 2 * n);
    const tags: Record<string, number> = {};
    for (let i = 0; i < 2 * n; i++) {
      const t = await q.get();
      tags[t] = (tags[t] ?? 0) + 1;
    }
    assert.deepEqual(tags, { a: n, b: n });
  });

  it("reaches the workers of a process Pool", async () => {
    await using m = await Manager.start({ transport: "pipe:" });
    const { dict, lock } = await structures(m);
    await using pool = await Pool.start<(d: typeof dict, l: typeof lock) => Promise<number>>(CHILD, {
      size: 2,
      as: "process",
      export: "bump",
    });
    const pids = await pool.starmap(Array.from({ length: 30 }, () => [dict, lock] as [typeof dict, typeof lock]), {
      chunksize: 1,
    });
    assert.equal(pids.length, 30);
    assert.ok(pids.every((pid) => pid !== process.pid));
    assert.equal(await dict.get("total"), 30);
  });

  it("carries values of megabytes both ways, over a socket bound to no file", async () => {
    await using m = await Manager.start({ transport: "pipe:" });
    const { lock, q, started } = await structures(m);
    const d = await m.dict<string, string>();
    const big = "0123456789abcdef".repeat(1 << 18); // 4 MiB
    await d.set("in", big);
    const child = spawn<() => { length: number; sockets: Record<string, string> | null }>(CHILD, {
      as: "process",
      args: ["big", d, lock, q, started, 0, "b"] as never,
    });
    const { length, sockets } = await child.join();
    assert.equal(length, big.length);
    const out = await d.get("out");
    assert.equal(out?.length, 2 * big.length);
    assert.ok(out === big + big);
    if (sockets === null) return; // no /proc/net/unix: not Linux
    // the child's way to the manager is descriptor 3, a socket with no path; it holds no socket with one
    assert.equal(sockets["3"], "", `descriptor 3 is an unbound unix socket: ${JSON.stringify(sockets)}`);
    assert.deepEqual(Object.values(sockets).filter((p) => p !== ""), []);
  });

  it("carries on when a child is killed in the middle of a call", async () => {
    await using m = await Manager.start({ transport: "pipe:" });
    const { dict, lock, q, started } = await structures(m);
    const holder = spawn(CHILD, { as: "process", args: ["hold", dict, lock, q, started, 0, "h"] });
    await started.wait();
    // another child, started while the holder keeps the lock, must get it once the holder is dead
    const waiter = spawn(CHILD, { as: "process", args: ["count", dict, lock, q, started, 5, "c"] });
    assert.equal(await lock.locked(), true);
    await holder.kill(); // in the middle of its q.get()
    await assert.rejects(holder.join(), (e) => e instanceof WorkerError && e.reason === "Terminated");
    // the server released what the dead child held, and its pending get is not handed the items put later
    assert.equal(await waiter.join(), 5);
    assert.equal(await dict.get("total"), 5);
    await q.put("x");
    assert.equal(await q.qsize(), 6);
  });

  it("hosts custom types, which a child process calls", async () => {
    await using m = await Manager.start({ transport: "pipe:", types: { Counter: COUNTER } });
    const c = await m.custom<Counter>("Counter", [10]);
    const child = spawn(INCREMENT, { as: "process", args: [c, 7] });
    assert.deepEqual(await child.join(), ["Counter", 7]);
    assert.equal(await c.value(), 17);
  });

  it("refuses Manager.connect from an unrelated process with Unsupported", async () => {
    await assert.rejects(
      Manager.connect("pipe:"),
      (e) => e instanceof TransportError && e.reason === "Unsupported" && /process children/.test(e.message),
    );
  });

  it("reaches the threads of spawn and of a thread Pool, and lets go of what a terminated one held", async () => {
    await using m = await Manager.start({ transport: "pipe:" });
    const { dict, lock, q, started } = await structures(m);
    const t = spawn(CHILD, { as: "thread", args: ["count", dict, lock, q, started, 20, "t"] });
    await using pool = await Pool.start<(d: typeof dict, l: typeof lock) => Promise<number>>(CHILD, {
      size: 2,
      as: "thread",
      export: "bump",
    });
    await pool.starmap(Array.from({ length: 10 }, () => [dict, lock] as [typeof dict, typeof lock]), { chunksize: 1 });
    assert.equal(await t.join(), 20);
    assert.equal(await dict.get("total"), 30);
    assert.equal(await q.qsize(), 20);
    const holder = spawn(CHILD, { as: "thread", args: ["hold", dict, lock, q, started, 0, "h"] });
    await started.wait();
    await holder.terminate();
    await lock.acquire({ timeout: 10_000 }); // released when the thread's channel closed
    await lock.release();
  });

  it("serves its own thread, and its structures end with it", async () => {
    const m = await Manager.start({ transport: "pipe:" });
    const { dict, lock } = await structures(m);
    await dict.set("k", 1);
    await lock.acquire();
    await assert.rejects(lock.acquire({ timeout: 10 }), (e) => e instanceof LockError && e.reason === "Timeout");
    await m.shutdown();
    await assert.rejects(dict.get("k"), (e) => e instanceof TransportError);
  });
});
