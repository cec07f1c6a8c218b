/**
 * The `shm:` transport (first cut): `Manager.start({ transport: "shm:" })`
 * gives an `shm:/…` address; Dict, Queue, Lock, Event, Semaphore and Value
 * work on it from this process, async and Sync (a Value or Condition given
 * a Lock of the manager stands on that Lock's region); other OS processes join by
 * address and open the same structures by name: two children making locked
 * non-atomic increments (a read, then a store) of one Value give the exact
 * total, a child reads every key of a Dict written here, and each puts to a
 * Queue this process takes from; a structure passed to
 * `spawn(url, { as: "process" })` attaches in the child; shutdown unlinks
 * every region the manager made.
 *
 * One manager serves every test of the file but the last (several managers
 * in one process are shm_ids_test's subject).
 * @module
 */
import { after, before, describe, it } from "node:test";
import process from "node:process";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { type Handle, Manager, spawn } from "../../mod.ts";
import { runtime } from "../../transports/_runtime/runtime.ts";
import { run } from "./_shm.ts";

const CHILD = new URL("../fixtures/shm_transport_child.ts", import.meta.url);
const SPAWNED = new URL("../fixtures/shm_spawn_worker.ts", import.meta.url);

/** Runs the child fixture; resolves with its JSON line once it exited 0; killed after 30 s. */
function child(args: (string | number)[]): Promise<Record<string, number>> {
  return run(CHILD, args) as Promise<Record<string, number>>;
}

/** The region files a handle names (its buffers, at any depth). */
function regionsOf(h: unknown, out: string[] = []): string[] {
  if (typeof h !== "object" || h === null) return out;
  if (typeof (h as { shm?: unknown }).shm === "string") out.push((h as { shm: string }).shm);
  else for (const v of Object.values(h)) regionsOf(v, out);
  return out;
}

let m: Manager;

before(async () => {
  m = await Manager.start({ transport: "shm:" });
});

after(async () => {
  await m.shutdown();
});

describe(`shm: transport on ${runtime}`, () => {
  it("starts with an shm:/ address; Dict, Queue, Lock, Event, Semaphore, Value work here, async and Sync", async () => {
    assert.match(m.address!, /^shm:\/procshare-\d+-\d+-[0-9a-f]{8}$/);
    assert.equal(m.transport, m.address);
    assert.ok(existsSync(`/dev/shm/${m.address!.slice(5)}`));

    const d = await m.dict<string, number>({ a: 1 }, { name: "local-d" });
    assert.equal(d.handle.via, "shm");
    assert.equal(await d.get("a"), 1);
    for (let i = 0; i < 2_000; i++) d.setSync("k" + i, i); // grows past its first commit
    assert.equal(d.getSync("k1999"), 1999);
    assert.equal(await d.size(), 2_001);
    const again = await m.dict<string, number>(undefined, { name: "local-d" });
    assert.equal(again.getSync("k7"), 7, "the same dict by name");
    await assert.rejects(m.queue({ name: "local-d" }), TypeError);

    const q = await m.queue<string>({ maxsize: 4 });
    await q.put("x");
    q.putSync("y");
    assert.deepEqual([q.getSync(), await q.get()], ["x", "y"]);

    const lock = await m.lock();
    assert.equal(lock.acquireSync({ timeout: 0 }).ownerDied, false);
    assert.equal(lock.tryAcquireSync(), undefined);
    assert.equal(await lock.locked(), true);
    lock.releaseSync();
    assert.equal(await lock.withLock(() => lock.locked()), true);
    assert.equal(await lock.locked(), false);

    const e = await m.event();
    setTimeout(() => e.set(), 5);
    assert.equal(await e.wait({ timeout: 5_000 }), true);
    assert.equal(e.isSetSync(), true);

    const s = await m.semaphore(2);
    s.acquireSync();
    await s.acquire();
    assert.equal(s.tryAcquireSync(), undefined);
    assert.equal(s.valueSync(), 0);
    s.releaseSync();
    await s.release();
    assert.equal(await s.value(), 2);

    const v = await m.value("i", 5);
    v.storeSync(v.loadSync() + 1);
    assert.equal(await v.load(), 6);

    // a Lock of the manager given to a Value and a Condition: they stand on its region
    const given = await m.lock();
    const [lockRegion] = regionsOf(given.handle);
    const guarded = await m.value("i", 1, { lock: given });
    assert.ok(regionsOf(guarded.handle).includes(lockRegion), "the Value's lock is the given Lock's region");
    const c = await m.condition(given);
    assert.ok(regionsOf(c.handle).includes(lockRegion), "the Condition's lock is the given Lock's region");
    given.acquireSync();
    assert.equal(await c.notifyAll(), undefined);
    given.releaseSync();

    assert.equal(await m.delete("local-d"), true);
    assert.equal(await m.delete("local-d"), false);
  });

  it("2 child processes join by address, open by name and make N locked increments each: the total is exact", async () => {
    const N = 3_000;
    const count = await m.value("i", 0, { name: "count" });
    const q = await m.queue<number>({ name: "q" });
    const res = await Promise.all([child([m.address!, "incr", N]), child([m.address!, "incr", N])]);
    assert.deepEqual(res, [{ done: N }, { done: N }]);
    assert.equal(count.loadSync(), 2 * N);
    const pids = [q.getSync({ timeout: 1_000 }), q.getSync({ timeout: 1_000 })];
    assert.equal(new Set(pids).size, 2);
    assert.equal(await (await m.lock({ name: "guard" })).locked(), false);
  });

  it("a child process reads by name every key of a Dict written here", async () => {
    const N = 500;
    const d = await m.dict<string, number>(undefined, { name: "d" });
    for (let i = 0; i < N; i++) d.setSync("k" + i, i);
    assert.deepEqual(await child([m.address!, "dict", N]), { ok: N });
  });

  it("structures in spawn(as: 'process') args attach in the child", async () => {
    const d = await m.dict<string, number>();
    const lock = await m.lock();
    const count = await m.value("i", 0);
    const N = 2_000;
    const w = spawn<(a: unknown, n: number) => number>(SPAWNED, { args: [{ d, lock, count }, N], as: "process" });
    for (let i = 0; i < N; i++) {
      await lock.acquire();
      count.storeSync(count.loadSync() + 1);
      lock.releaseSync();
    }
    const seen = await w.join();
    assert.ok(seen >= N && seen <= 2 * N, `the child saw ${seen}`);
    assert.equal(count.loadSync(), 2 * N);
    assert.equal(typeof d.getSync("child"), "number");
  });

  it("shutdown unlinks the manager's region, its names region and every structure's region", async () => {
    const mine = () => readdirSync("/dev/shm").filter((f) => f.startsWith(`procshare-${process.pid}-`)).sort();
    const before = mine();
    const other = await Manager.start({ transport: "shm:" });
    const handles: Handle[] = [
      (await other.dict<string, number>({ a: 1 }, { name: "x" })).handle,
      (await other.queue()).handle,
      (await other.value("d", 1.5)).handle,
    ];
    const files = [other.address!.slice(5), ...handles.flatMap((h) => regionsOf(h))];
    assert.equal(files.length, 1 + 1 + 1 + 2, `regions: ${files}`);
    for (const f of files) assert.ok(existsSync(`/dev/shm/${f}`), f);
    await other.shutdown();
    assert.deepEqual(files.filter((f) => existsSync(`/dev/shm/${f}`)), []);
    assert.deepEqual(mine(), before, "the names region is gone too");
  });
});
