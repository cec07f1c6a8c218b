/**
 * Owner ids across processes for every thread, and several `shm:` managers
 * in one process (issue 9, acceptance 4; transports/_runtime/threads.ts,
 * transports/shm/_owners.ts).
 *
 * - A process joining two managers in the other order than this one: the
 *   ids differ, RLock-guarded counts on both are exact, and its Locks of
 *   both pass on when it is SIGKILLed.
 * - RLock-guarded increments from a thread here and a thread of another
 *   process are exact, with three distinct cross-process ids.
 * - A thread that never joined takes a shared-buffer Lock over from a dead
 *   sibling whose id was a cross-process one.
 * - A process SIGKILLed while one of its threads holds an `shm:` Lock passes
 *   it on here, told `ownerDied`, whatever thread held it: a thread spawned
 *   `as: "thread"` after its parent joined (its id reserved by the parent),
 *   one whose parent never joined (a process-local id, replaced when it
 *   joined), a plain Worker, and a main thread that had a process-local id
 *   (its RLock and Semaphore permit pass on too).
 * - In a process that lives on, a plain Worker that ends holding the Lock,
 *   and a spawned thread terminated holding it (its parent joined or not),
 *   pass it on too.
 * @module
 */
import { after, before, describe, it, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn as spawnChild } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Manager, spawn } from "../../mod.ts";
import { FOREIGN_ID_BIT, threadId } from "../../transports/_runtime/threads.ts";
import { runtime, runtimeCommand } from "../../transports/_runtime/runtime.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CHILD = new URL("../fixtures/shm_ids_child.ts", import.meta.url);
const WORKER = new URL("../fixtures/shm_ids_worker.ts", import.meta.url);
const LOCAL_WORKER = new URL("../fixtures/shm_ids_local_worker.ts", import.meta.url);

/** A child process of the fixture, and its JSON lines in order. */
class Child {
  readonly process: ChildProcess;
  readonly exited: Promise<unknown>;
  readonly #lines: Record<string, number>[] = [];
  readonly #waiting: ((line: Record<string, number>) => void)[] = [];
  #err = "";
  #closed = false;

  constructor(args: (string | number)[]) {
    const { command, args: base } = runtimeCommand(CHILD);
    this.process = spawnChild(command, [...base, ...args.map(String)], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    this.process.stdout!.on("data", (d) => {
      out += d;
      for (let nl = out.indexOf("\n"); nl >= 0; nl = out.indexOf("\n")) {
        const line = JSON.parse(out.slice(0, nl));
        out = out.slice(nl + 1);
        const w = this.#waiting.shift();
        if (w) w(line);
        else this.#lines.push(line);
      }
    });
    this.process.stderr!.on("data", (d) => (this.#err += d));
    this.exited = new Promise((resolve) => this.process.on("close", resolve));
    this.exited.then(() => {
      this.#closed = true;
      for (const w of this.#waiting.splice(0)) w({ error: 1 });
    });
  }

  /** The next JSON line; rejects if the child closed first. */
  async line(): Promise<Record<string, number>> {
    const next = this.#lines.shift() ??
      (this.#closed ? { error: 1 } : await new Promise<Record<string, number>>((r) => this.#waiting.push(r)));
    if ("error" in next) throw new Error(`the child closed before a line: ${this.#err}`);
    return next;
  }

  /** SIGKILLs the child and waits for it to be reaped. */
  async kill(): Promise<void> {
    this.process.kill("SIGKILL");
    await this.exited;
  }
}

let m: Manager;
before(async () => {
  m = await Manager.start({ transport: "shm:" });
});
after(async () => {
  await m.shutdown();
});

/** Takes Lock `name` of `manager` here once `holder` holds it; asserts ownerDied after `end()`. */
async function takeOver(t: TestContext, manager: Manager, name: string, end: () => Promise<void>): Promise<void> {
  const lock = await manager.lock({ name });
  assert.equal(await lock.locked(), true, "held by the child");
  const t0 = performance.now();
  await end();
  const permit = await lock.acquire({ timeout: 10_000 });
  t.diagnostic(`${runtime}: ${name} taken over ${(performance.now() - t0).toFixed(0)} ms after the kill`);
  assert.equal(permit.ownerDied, true, "told ownerDied");
  await permit.release();
  const again = await lock.acquire({ timeout: 10_000 });
  assert.equal(again.ownerDied, false, "a released lock carries no ownerDied");
  await again.release();
}

/** The fixture's children that hold a Lock named as their mode, all started at once (they take a while to start). */
const KILLED = ["thread-joined", "thread-alone", "plain", "main-local"];
const ENDING = ["plain-exit", "terminate-joined", "terminate-alone"];
const holders = new Map<string, Child>();

/** Waits until the child of `mode` holds Lock `mode`, then SIGKILLs it and takes the Lock over. */
async function killHolder(t: TestContext, mode: string): Promise<void> {
  const c = holders.get(mode)!;
  try {
    const { held } = await c.line();
    assert.notEqual(held & FOREIGN_ID_BIT, 0, `the holder's id ${held} is a cross-process one`);
    assert.notEqual(held, threadId(), "not this thread's id");
    await takeOver(t, m, mode, () => c.kill());
  } finally {
    c.process.kill("SIGKILL");
  }
}

describe(`shm: owner ids across managers and threads on ${runtime}`, () => {
  // These two come first: before this process used any other id or spawned
  // any thread, the ids that collided before one registry served every
  // manager (and before threads had cross-process ids) are the first ones.
  it("two managers joined in either order: exact RLock-guarded counts on both, then both Locks pass on at SIGKILL", async (t) => {
    const m2 = await Manager.start({ transport: "shm:" });
    try {
      const N = 1_500;
      const managers = [m, m2];
      const rlocks = [await m.rlock({ name: "two-r" }), await m2.rlock({ name: "two-r" })];
      const values = [await m.value("i", 0, { name: "two-n" }), await m2.value("i", 0, { name: "two-n" })];
      const c = new Child(["two", m.address!, "two", m2.address!, N]);
      try {
        for (let i = 0; i < N; i++) {
          for (let k = 0; k < 2; k++) {
            rlocks[k].acquireSync();
            values[k].storeSync(values[k].loadSync() + 1);
            rlocks[k].releaseSync();
          }
        }
        assert.deepEqual(await c.line(), { done: N });
        assert.deepEqual(values.map((v) => v.loadSync()), [2 * N, 2 * N], "no lost update under either RLock");
        const { held } = await c.line();
        assert.notEqual(held, threadId());
        let killed = false;
        for (const k of [0, 1]) {
          await takeOver(t, managers[k], "two", async () => {
            if (!killed) await c.kill();
            killed = true;
          });
        }
      } finally {
        c.process.kill("SIGKILL");
      }
    } finally {
      await m2.shutdown();
    }
  });

  it("RLock-guarded increments from a thread here and a thread of another process are exact", async () => {
    const N = 2_000;
    const rlock = await m.rlock({ name: "incr-r" });
    const count = await m.value("i", 0, { name: "incr-n" });
    const c = new Child(["thread-incr", m.address!, "incr", "", N]);
    const here = spawn<(a: string, n: string, mode: string, k: number) => number>(WORKER, {
      as: "thread",
      args: [m.address!, "incr", "incr", N],
    });
    try {
      const ids = [await here.join(), (await c.line()).id, threadId()];
      assert.equal(count.loadSync(), 2 * N);
      assert.equal(new Set(ids).size, 3, `distinct ids: ${ids}`);
      for (const id of ids) assert.notEqual(id & FOREIGN_ID_BIT, 0, `${id} is a cross-process id`);
      assert.equal(rlock.isOwnedSync(), false);
    } finally {
      c.process.kill("SIGKILL");
    }
  });

  it("a thread that never joined takes a shared-buffer Lock over from a sibling that had a cross-process id", async () => {
    const local = await Manager.start();
    try {
      const lock = await local.lock();
      // this thread joined: the sibling's id is cross-process; it ends holding the Lock
      const held = await spawn<(l: unknown, mode: string) => number>(LOCAL_WORKER, {
        as: "thread",
        args: [lock, "hold"],
      }).join();
      assert.notEqual(held & FOREIGN_ID_BIT, 0, `the holder's id ${held} is a cross-process one`);
      // the taker has no view of the registry: it tells the holder dead through the holder's local id
      const died = await spawn<(l: unknown, mode: string) => number>(LOCAL_WORKER, {
        as: "thread",
        args: [lock, "take"],
      }).join();
      assert.equal(died, 1, "told ownerDied");
    } finally {
      await local.shutdown();
    }
  });
});

describe(`shm: a dead owner's Lock passes on to another process on ${runtime}`, () => {
  before(() => {
    for (const mode of [...KILLED, ...ENDING]) holders.set(mode, new Child([mode, m.address!, mode]));
  });
  after(() => {
    for (const c of holders.values()) c.process.kill("SIGKILL");
  });

  it("a thread spawned after its parent joined holds a Lock; its process SIGKILLed: ownerDied here", async (t) => {
    await killHolder(t, "thread-joined");
  });

  it("a thread whose parent never joined (a process-local id) holds a Lock; SIGKILL: ownerDied here", async (t) => {
    await killHolder(t, "thread-alone");
  });

  it("a plain Worker holds a Lock; its process SIGKILLed: ownerDied here", async (t) => {
    await killHolder(t, "plain");
  });

  it("a main thread that had a process-local id holds a Lock, an RLock and a permit; SIGKILL: ownerDied here", async (t) => {
    await killHolder(t, "main-local");
    const rlock = await m.rlock({ name: "main-local-r" });
    const r = await rlock.acquire({ timeout: 10_000 });
    assert.equal(r.ownerDied, true, "the RLock held twice passes on, told ownerDied");
    await r.release();
    assert.equal(rlock.isOwnedSync(), false, "the dead owner's depth was dropped");
    const s = await (await m.semaphore(1, { name: "main-local-s" })).acquire({ timeout: 10_000 });
    assert.equal(s.ownerDied, true, "the Semaphore's permit comes back, told ownerDied");
    await s.release();
  });

  for (
    const [mode, what] of [
      ["plain-exit", "a plain Worker ends holding a Lock"],
      ["terminate-joined", "a thread spawned after its parent joined is terminated holding a Lock"],
      ["terminate-alone", "a thread whose parent never joined is terminated holding a Lock"],
    ]
  ) {
    it(`${what} in a process that lives on: ownerDied here`, async (t) => {
      const c = holders.get(mode)!;
      try {
        const { held } = await c.line();
        assert.notEqual(held & FOREIGN_ID_BIT, 0, `the holder's id ${held} is a cross-process one`);
        await takeOver(t, m, mode, async () => {
          assert.deepEqual(await c.line(), { gone: true });
        });
        assert.equal(c.process.exitCode, null, "the process lives on");
      } finally {
        c.process.kill("SIGKILL");
      }
    });
  }
});
