/**
 * Connection churn (issue 8, item 3): ids of closed connections and exited
 * threads are reused, safely, and a full registry is a clear refusal at
 * connect.
 *
 * - the registry: 200,000 allocate/markDead cycles reuse slots, every live id
 *   is distinct and fits a lock word's 30 owner bits, and a dead id stays dead
 *   after its slot is reused (the generation moved on), so a stale markDead
 *   never kills the slot's new owner;
 * - real connections: after the registry's fresh slots are used up, 2,000
 *   connect/call/close cycles keep working (before, every connection past the
 *   65,532nd failed its first call with `TransportError("Closed")`); the full
 *   200,000 cycles run in `scripts/soak/churn.ts`;
 * - with every id held, `connect` is refused with `TransportError("Connect")`
 *   saying so; a lock held by a connection that closed passes, with
 *   `ownerDied`, to the next connection even though it got the dead one's slot.
 * @module
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { TransportError } from "../../errors.ts";
import { HOST_ID } from "../../transports/_host.ts";
import {
  IdRegistry,
  markDead,
  MAX_GENERATIONS,
  MAX_IDS,
  processRegistry,
  SLOT_MASK,
  threadId,
  tryAllocateId,
} from "../../transports/_runtime/threads.ts";
import { KINDS } from "../../kinds.ts";
import { connect } from "../../transports/socket/client.ts";
import { type ManagerServer, startServer } from "../../transports/socket/server.ts";

/** Largest id a lock word can hold (`OWNER_MASK` in `sync/_mutex.ts`). */
const OWNER_MASK = 0x3fffffff;

/** Resolves once `cond()` holds, checking every few ms; rejects after `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("the id registry under churn", () => {
  it("200,000 allocate/markDead cycles with 16 alive at a time: slots reused, live ids distinct, dead ids stay dead", () => {
    const r = new IdRegistry(new SharedArrayBuffer(IdRegistry.bytes(MAX_IDS - 1)));
    const alive: number[] = [];
    const live = new Set<number>();
    for (let i = 0; i < 200_000; i++) {
      const id = r.allocate();
      assert.ok(id > 0 && id <= OWNER_MASK, `id ${id} fits a lock word`);
      assert.ok(!live.has(id), `id ${id} is not alive twice`);
      assert.ok(!r.isDead(id));
      live.add(id);
      alive.push(id);
      if (alive.length > 16) {
        const old = alive.shift()!;
        r.markDead(old);
        live.delete(old);
        assert.ok(r.isDead(old));
      }
    }
    assert.equal(r.alive(), 16);
    // every slot has been reused at least once: the 200,000th id is not a fresh slot
    assert.ok(alive.at(-1)! > SLOT_MASK);
    for (const id of alive) assert.ok(!r.isDead(id));
  });

  it("a dead id stays dead while its slot is reused, and a stale markDead never kills the new owner", () => {
    const r = new IdRegistry(new SharedArrayBuffer(IdRegistry.bytes(2)));
    const a = r.allocate(), b = r.allocate();
    r.markDead(a);
    const c = r.allocate();
    assert.equal(c & SLOT_MASK, a & SLOT_MASK, "a's slot is reused");
    assert.notEqual(c, a);
    assert.ok(r.isDead(a) && !r.isDead(c) && !r.isDead(b));
    r.markDead(a); // twice, late: a no-op
    assert.ok(!r.isDead(c));
    // the dead id reads dead through every later generation of its slot
    let next = c;
    for (let g = 0; g < MAX_GENERATIONS - 2; g++) {
      r.markDead(next);
      next = r.allocate();
      assert.equal(next & SLOT_MASK, a & SLOT_MASK);
      assert.ok(r.isDead(a), `generation ${g}`);
      assert.ok(next > 0 && next <= OWNER_MASK);
    }
  });

  it("a full registry allocates nothing until an id dies", () => {
    const r = new IdRegistry(new SharedArrayBuffer(IdRegistry.bytes(1000)));
    const ids = Array.from({ length: 1000 }, () => r.allocate());
    assert.equal(new Set(ids).size, 1000);
    assert.equal(r.tryAllocate(), 0);
    assert.throws(() => r.allocate(), (e: unknown) => e instanceof RangeError && /all 1000 are held/.test(e.message));
    r.markDead(ids[500]);
    const id = r.allocate();
    assert.equal(id & SLOT_MASK, ids[500] & SLOT_MASK);
    assert.equal(r.tryAllocate(), 0);
  });
});

describe("connections under churn", () => {
  let server: ManagerServer;
  /** Ids this test holds to fill the process registry; marked dead afterwards. */
  const held: number[] = [];

  before(async () => {
    server = await startServer({ address: `unix:/tmp/procshare-churn-${process.pid}.sock`, kinds: KINDS });
    threadId(); // this thread's own id, before the registry is filled
  });
  after(async () => {
    for (const id of held.splice(0)) markDead(id);
    await server?.close();
  });

  it("2,000 connect/call/close cycles once every fresh id is used: each connection is served", async () => {
    // use up the fresh slots, then free them all: from now on every connection reuses a dead slot
    for (let id = tryAllocateId(); id !== 0; id = tryAllocateId()) held.push(id);
    for (const id of held.splice(0)) markDead(id);
    const started = performance.now();
    for (let i = 0; i < 2000; i++) {
      const c = await connect(server.address, { authkey: server.authkey });
      assert.equal(typeof await c.call(HOST_ID, "instance", []), "string");
      await c.close();
    }
    const ms = performance.now() - started;
    console.log(`2,000 connect/call/close cycles in ${ms.toFixed(0)} ms (${(ms / 2).toFixed(0)} µs each)`);
    await until(() => server.connectionCount === 0, 5000, "the server sees every connection closed");
    assert.ok(processRegistry().alive() < 16, `${processRegistry().alive()} ids alive`);
  });

  it("with every id held, connect is refused saying so; a closed connection's lock passes with ownerDied to the next one in its slot", async () => {
    const owner = await connect(server.address, { authkey: server.authkey });
    const { id: lockId } = await owner.open("lock", "churn-lock", []);
    assert.equal(await owner.call(lockId, "acquire", [null]), false);

    // hold every other id: the owner's is the only slot a new connection could get
    for (let id = tryAllocateId(); id !== 0; id = tryAllocateId()) held.push(id);
    await assert.rejects(
      connect(server.address, { authkey: server.authkey }),
      (e: unknown) =>
        e instanceof TransportError && e.reason === "Connect" &&
        /^Cannot connect to manager as all 65535 connection and thread ids of its process are held by live ones \(close connections or start another manager\): received 65535 alive$/
          .test(e.message),
    );
    assert.equal(server.connectionCount, 1, "the refused connection was closed by the server");

    await owner.close();
    await until(() => server.connectionCount === 0, 5000, "the server sees the owner closed");
    const next = await connect(server.address, { authkey: server.authkey });
    assert.equal(processRegistry().alive(), processRegistry().slots, "the next connection took the owner's slot");
    const { id } = await next.open("lock", "churn-lock", []);
    assert.equal(id, lockId);
    assert.equal(await next.call(lockId, "acquire", [1000]), true, "ownerDied: the previous owner's lock, taken over");
    await next.call(lockId, "release", []);
    assert.equal(await next.call(lockId, "acquire", [1000]), false, "held and released by a live owner now");
    await next.close();
    for (const id of held.splice(0)) markDead(id);
  });
});
