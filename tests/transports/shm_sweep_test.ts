/**
 * The sweeper of `shm:` (transports/shm/_sweep.ts) on the running runtime:
 * the region file of a child process SIGKILLed while it held the region is
 * removed from /dev/shm; files of live creators, foreign names, symbolic
 * links (and their targets) and directories stay.
 * @module
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { SharedMemoryError } from "../../errors.ts";
import { type Ffi, loadFfi } from "../../transports/shm/_ffi.ts";
import { isAlive, type ProcessIdentity, selfIdentity } from "../../transports/shm/_liveness.ts";
import { ShmRegion } from "../../transports/shm/_region.ts";
import { creatorOf, sweep, sweepWith } from "../../transports/shm/_sweep.ts";
import { runtime } from "../../transports/_runtime/runtime.ts";
import { child } from "./_shm.ts";

const FIXTURE = new URL("../fixtures/shm_relay_child.ts", import.meta.url);

let ffi: Ffi;
let dir: string;

/** A child that creates a region (default name) and blocks; resolves with its region's name and identity, then is SIGKILLed and reaped. */
async function killedCreator(): Promise<{ name: string; creator: ProcessIdentity }> {
  const c = child(FIXTURE, ["create"], { stderr: "inherit" });
  try {
    const { name, pid, startTime } = (await c.first) as { name: string; pid: number; startTime: number };
    return { name, creator: { pid, startTime } };
  } finally {
    c.process.kill("SIGKILL");
    await c.closed; // reaped: not even a zombie is left
  }
}

before(async () => {
  ffi = await loadFfi();
  dir = mkdtempSync("/dev/shm/procshare-test-sweep-");
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe(`shm sweeper on ${runtime}`, () => {
  it("the region file of a SIGKILLed creator is removed from /dev/shm; a live creator's stays", async () => {
    const { name, creator } = await killedCreator();
    assert.equal(creatorOf(name)?.pid, creator.pid);
    assert.equal(creatorOf(name)?.startTime, creator.startTime);
    assert.equal(isAlive(ffi, creator), false);
    assert.equal(existsSync(`/dev/shm/${name}`), true, "SIGKILL leaves the file behind");
    const mine = ShmRegion.create(ffi, { maxBytes: 4096, initialBytes: 4096 });
    try {
      const removed = await sweep();
      assert.ok(removed.includes(name), `${name} swept`);
      assert.equal(removed.includes(mine.name), false);
      assert.equal(existsSync(`/dev/shm/${name}`), false);
      assert.equal(existsSync(mine.path), true);
      assert.equal((await sweep()).includes(name), false);
    } finally {
      mine.unlink();
      mine.close();
    }
  });

  it("only dead creators' regular files go: live ones, foreign names, links, their targets and directories stay", async () => {
    const { name: leaked, creator: dead } = await killedCreator();
    rmSync(`/dev/shm/${leaked}`); // this test sweeps its own directory only
    const me = selfIdentity(ffi);
    const deadName = (suffix: string) => `procshare-${dead.pid}-${dead.startTime}-${suffix}`;
    const file = (name: string) => writeFileSync(path.join(dir, name), "x", { mode: 0o600 });
    const target = path.join(dir, "target");
    file("target");
    file(deadName("aa11"));
    file(deadName("bb22"));
    file(`procshare-${me.pid}-${me.startTime}-cc33`); // alive
    file(`procshare-${me.pid}-${me.startTime + 1}-dd44`); // this pid, another start time: a dead predecessor
    file("procshare-x-1-ee55");
    file("my-region");
    file(`procshare-${dead.pid}-${dead.startTime}`);
    symlinkSync(target, path.join(dir, deadName("ff66")));
    mkdirSync(path.join(dir, deadName("0077")));
    const removed = sweepWith(ffi, dir).sort();
    assert.deepEqual(
      removed,
      [deadName("aa11"), deadName("bb22"), `procshare-${me.pid}-${me.startTime + 1}-dd44`].sort(),
    );
    for (const name of removed) assert.equal(existsSync(path.join(dir, name)), false);
    const kept = [
      "target",
      `procshare-${me.pid}-${me.startTime}-cc33`,
      "procshare-x-1-ee55",
      "my-region",
      `procshare-${dead.pid}-${dead.startTime}`,
    ];
    for (const name of kept) {
      assert.equal(existsSync(path.join(dir, name)), true, `${name} stays`);
    }
    assert.equal(lstatSync(path.join(dir, deadName("ff66"))).isSymbolicLink(), true);
    assert.equal(lstatSync(path.join(dir, deadName("0077"))).isDirectory(), true);
    assert.deepEqual(sweepWith(ffi, dir), []);
  });

  it("names are parsed strictly, and a directory that cannot be listed is SharedMemoryError('Unavailable')", () => {
    assert.deepEqual(creatorOf("procshare-12-345-0badcafe"), { pid: 12, startTime: 345 });
    for (
      const bad of [
        "procshare-0-1-a",
        "procshare-12-345-",
        "procshare-12-345-a/b",
        "procshare--1-2-a",
        "x-procshare-1-2-a",
      ]
    ) {
      assert.equal(creatorOf(bad), undefined, bad);
    }
    assert.throws(
      () => sweepWith(ffi, path.join(dir, "missing")),
      (e) => e instanceof SharedMemoryError && e.reason === "Unavailable" && /errno 2/.test(e.message),
    );
  });
});
