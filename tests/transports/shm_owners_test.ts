/**
 * Owner ids shared by the processes of an `shm:` region
 * (`transports/shm/_owners.ts`): ids allocated by several OS processes from
 * one registry are distinct; a Lock held over a region by a process that is
 * SIGKILLed passes to a waiter in another process, told `ownerDied` (the
 * waiter finds the holder's process gone through /proc); the dead owner's
 * slot is then reused under a new generation and the old id stays dead.
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Ffi } from "../../transports/shm/_ffi.ts";
import type { ShmRegion } from "../../transports/shm/_region.ts";
import { ShmOwners } from "../../transports/shm/_owners.ts";
import { LockEngine } from "../../sync/lock.ts";
import { FOREIGN_ID_BIT, isDead, useForeignIds } from "../../transports/_runtime/threads.ts";
import { child, useShm } from "./_shm.ts";

const FIXTURE = new URL("../fixtures/shm_owner_child.ts", import.meta.url);
/** The fixture's layout. */
const OWNERS_BASE = 1024;
const SLOTS = 64;

let ffi: Ffi;
const shm = useShm((f) => ffi = f);

function region(): ShmRegion {
  const r = shm.region({ maxBytes: 64 * 1024 });
  r.u8.set(new Uint8Array(new LockEngine().buffer));
  return r;
}

/** Starts the fixture in this runtime; `line` resolves its first JSON line. */
function start(args: string[]) {
  const c = child(FIXTURE, args);
  return { child: c.process, line: c.first, closed: c.closed };
}

describe("owner ids shared between processes (shm:)", () => {
  it("ids from several processes and this one are distinct and carry the foreign bit", async () => {
    const r = region();
    const mine = new ShmOwners(ffi, r.i32, OWNERS_BASE, SLOTS);
    const runs = [start(["ids", r.name, "9"]), start(["ids", r.name, "9"])];
    const local = Array.from({ length: 10 }, () => mine.allocate());
    const theirs = (await Promise.all(runs.map((x) => x.line))).flatMap((x) => x.ids as number[]);
    const all = [...local, ...theirs];
    assert.equal(all.length, 30);
    assert.equal(new Set(all).size, 30, "every id is distinct");
    for (const id of all) assert.ok((id & FOREIGN_ID_BIT) !== 0 && id < 2 ** 30, `id ${id}`);
  });

  it("a Lock held by a SIGKILLed process passes on, told ownerDied; the slot is reused, the old id stays dead", async () => {
    const r = region();
    const owners = new ShmOwners(ffi, r.i32, OWNERS_BASE, SLOTS);
    useForeignIds(owners);
    const { child, line, closed } = start(["hold", r.name]);
    const { id } = (await line) as { id: number };
    const lock = new LockEngine(r.buffer as unknown as SharedArrayBuffer);
    assert.equal(lock.locked(), true);
    assert.equal(isDead(id), false, "the holder is alive");
    child.kill("SIGKILL");
    await closed;
    const me = owners.allocate();
    // the waiter checks the holder's liveness after each wait slice: it finds the process gone
    assert.equal(await lock.acquire(me, { timeout: 10_000 }), true, "acquired, told ownerDied");
    assert.equal(isDead(id), true);
    lock.release(me);
    // the dead process's slot goes to a new owner under a new generation; the old id stays dead
    const fresh: number[] = [];
    for (let k = 0; k < SLOTS - 1; k++) fresh.push(owners.allocate()); // 62 fresh slots, then the dead one
    assert.ok(fresh.some((x) => (x & 0xffff) === (id & 0xffff) && x !== id), "the slot was reused");
    assert.equal(isDead(id), true);
    assert.equal(lock.acquireSync(me), false, "a free lock is taken without ownerDied");
    lock.release(me);
  });
});
