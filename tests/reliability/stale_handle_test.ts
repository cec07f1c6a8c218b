/**
 * A handle outlives its manager server: after a restart on the same address
 * (structure ids start again at 1) an old handle must not bind to whatever
 * the new server numbers the same. Attaching it fails with
 * `TransportError("Stale")`; an old structure object's calls fail too and
 * never reach the new server's structures; reopening by name on the new
 * server is the way back.
 * @module
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { attach, type Dict, Manager, TransportError } from "../../mod.ts";

const dir = mkdtempSync(join(tmpdir(), "procshare-stale-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const isStale = (e: unknown): boolean => e instanceof TransportError && e.reason === "Stale";

describe("a handle of a restarted manager server", () => {
  it("fails with TransportError Stale on attach, and old objects never reach the new structures", async () => {
    const transport = `unix:${join(dir, "m.sock")}`;
    const authkey = "stale-handle-test";
    const m1 = await Manager.start({ transport, authkey });
    const old = await m1.dict<string, number>({ old: 1 }, { name: "scores" });
    const oldHandle = old.handle;
    // a handle of the live server attaches fine
    assert.equal(await (await attach<Dict<string, number>>(oldHandle)).get("old"), 1);
    await m1.shutdown();

    await using m2 = await Manager.start({ transport, authkey });
    const fresh = await m2.dict<string, number>({ fresh: 2 }); // the new server's id 1, as the old dict's was
    assert.notEqual(fresh.handle.instance, undefined);
    assert.notEqual(fresh.handle.instance, oldHandle.instance);

    await assert.rejects(() => attach(oldHandle), isStale);
    await assert.rejects(() => attach(JSON.parse(JSON.stringify({ ...oldHandle, authkey: authkey }))), isStale);
    // the old object fails, whatever the reason, and its writes land nowhere
    await assert.rejects(() => old.set("leak", 1), (e) => e instanceof TransportError);
    await assert.rejects(() => old.get("fresh"), (e) => e instanceof TransportError);
    assert.deepEqual(await fresh.entries(), [["fresh", 2]]);

    // recovery: reconnect and reopen by name
    await using m3 = await Manager.connect(m2.address!, { authkey });
    const again = await m3.dict<string, number>(undefined, { name: "scores" });
    await again.set("back", 3);
    assert.equal(await (await attach<Dict<string, number>>(again.handle)).get("back"), 3);
  });
});
