/**
 * `PROCSHARE_TRANSPORT` under Deno's permissions: read with
 * `--allow-env=PROCSHARE_TRANSPORT`, and without it never ignored silently —
 * one warning names the flag, and the default transport is used. The child is
 * always Deno (the `deno` of node_modules), whichever runtime runs this test.
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FIXTURE = fileURLToPath(new URL("./fixtures/env_child.ts", import.meta.url));
/**
 * Never `process.execPath` under Deno: Deno's `child_process` rewrites the
 * arguments of a spawn of its own executable (adding `-A`).
 */
const DENO = fileURLToPath(new URL("../../node_modules/.bin/deno", import.meta.url));

/** Runs the fixture under Deno with `flags` and `PROCSHARE_TRANSPORT` set to a TCP manager. */
function runDeno(flags: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(DENO, ["run", "--no-prompt", ...flags, FIXTURE], {
    cwd: ROOT,
    env: { ...process.env, PROCSHARE_TRANSPORT: "tcp://127.0.0.1:0", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  proc.stdout!.on("data", (d: Uint8Array) => (stdout += new TextDecoder().decode(d)));
  proc.stderr!.on("data", (d: Uint8Array) => (stderr += new TextDecoder().decode(d)));
  return new Promise((resolve) => proc.on("close", (code) => resolve({ code, stdout, stderr })));
}

describe("PROCSHARE_TRANSPORT under Deno", () => {
  it("warns once, naming --allow-env=PROCSHARE_TRANSPORT, when env access is denied", async () => {
    const r = await runDeno([]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["shared-buffer", "shared-buffer"]);
    const warnings = r.stderr.split("\n").filter((line) => line.includes("--allow-env=PROCSHARE_TRANSPORT"));
    assert.equal(warnings.length, 1, r.stderr);
    assert.match(warnings[0], /Cannot read PROCSHARE_TRANSPORT as environment access is denied/);
  });

  it("uses the variable, without a warning, when access is granted", async () => {
    const r = await runDeno(["--allow-env=PROCSHARE_TRANSPORT", "--allow-net=127.0.0.1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["tcp", "tcp"]);
    assert.doesNotMatch(r.stderr, /allow-env/);
  });
});
