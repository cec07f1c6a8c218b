/**
 * Clear refusals of `shm:` through `Manager.start` (issue 9, acceptance 5),
 * in child processes whichever runtime runs the tests: a Deno run without
 * --allow-ffi gets `TransportError("Permission")` naming --allow-ffi and
 * suggesting unix:; a Node where the package koffi cannot be resolved gets
 * `TransportError("Unsupported")` naming koffi and suggesting unix:. The
 * same processes with what they lacked start an shm: manager. And a process
 * that imports mod.ts and uses a shared-buffer manager loads no FFI: on
 * Deno it needs no --allow-ffi; Node maps no koffi library and Bun loads no
 * module of transports/shm/ (the control, an shm: manager in the same
 * fixture, shows both probes see FFI when it is used).
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { runtime } from "../../transports/_runtime/runtime.ts";
import { run } from "./_shm.ts";

const CHILD = new URL("../fixtures/shm_refusal_child.ts", import.meta.url);
/** Hides the package koffi from a Node process. */
const NO_KOFFI = ["--import", "./tests/fixtures/shm_no_koffi.mjs"];
/** Deno without --allow-ffi (reads and the environment allowed: nothing else is missing). */
const NO_FFI = ["--allow-read", "--allow-env"];

describe(`shm: refusals (tests run on ${runtime})`, () => {
  it("Deno without --allow-ffi: TransportError('Permission') naming --allow-ffi and suggesting unix:", async () => {
    const res = await run(CHILD, ["start"], { which: "deno", denoFlags: NO_FFI });
    assert.deepEqual([res.ok, res.tag, res.reason], [false, "TransportError", "Permission"]);
    assert.match(res.message as string, /^Cannot use shm: as /);
    assert.match(res.message as string, /--allow-ffi/);
    assert.match(res.message as string, /use unix: instead/);
    const granted = await run(CHILD, ["start"], { which: "deno", denoFlags: [...NO_FFI, "--allow-ffi"] });
    assert.deepEqual(granted, { ok: true, runtime: "deno" });
  });

  it("Node without koffi: TransportError('Unsupported') naming koffi and suggesting unix:", async () => {
    const res = await run(CHILD, ["start"], { which: "node", nodeFlags: NO_KOFFI });
    assert.deepEqual([res.ok, res.tag, res.reason], [false, "TransportError", "Unsupported"]);
    assert.match(res.message as string, /^Cannot use shm: as koffi cannot be loaded/);
    assert.match(res.message as string, /npm install koffi/);
    assert.match(res.message as string, /use unix: instead/);
    assert.deepEqual(await run(CHILD, ["start"], { which: "node" }), { ok: true, runtime: "node" });
  });

  it("importing mod.ts and using a shared-buffer manager loads no FFI (node, deno, bun)", async () => {
    const [node, deno, bun] = await Promise.all([
      run(CHILD, ["plain"], { which: "node" }),
      run(CHILD, ["plain"], { which: "deno", denoFlags: NO_FFI }),
      run(CHILD, ["plain"], { which: "bun" }),
    ]);
    assert.deepEqual(node, { ok: true, runtime: "node", koffiMapped: false, regionMapped: false, shmModules: null });
    assert.deepEqual(deno, { ok: true, runtime: "deno", koffiMapped: null, regionMapped: null, shmModules: null });
    assert.deepEqual(bun, { ok: true, runtime: "bun", koffiMapped: false, regionMapped: false, shmModules: [] });
    // the control: the same probes with an shm: manager
    const [nodeShm, bunShm] = await Promise.all([
      run(CHILD, ["plain", "shm:"], { which: "node" }),
      run(CHILD, ["plain", "shm:"], { which: "bun" }),
    ]);
    assert.deepEqual([nodeShm.ok, nodeShm.koffiMapped, nodeShm.regionMapped], [true, true, true]);
    assert.deepEqual([bunShm.ok, bunShm.regionMapped], [true, true]);
    assert.ok((bunShm.shmModules as string[]).some((f) => f.endsWith("/transports/shm/_ffi.ts")), "a probe that sees");
  });
});
