#!/usr/bin/env node
/**
 * `npm run soak`: the heavy versions of the reliability suite, for a long
 * run before a release or after a change to an engine, the wire or the
 * server. Not part of `npm test` (it takes minutes per runtime).
 *
 * 1. `tests/reliability/` on every runtime with the soak sizes
 *    (PROCSHARE_SOAK=1; the wire fuzzer sends PROCSHARE_SOAK_FUZZ mutated
 *    frames from a fresh PROCSHARE_SOAK_SEED, printed so a failure replays).
 * 2. Every `scripts/soak/*.ts` (not starting with `_`) on every runtime: each
 *    is a program that exits 0 when its property held, non-zero with a
 *    message otherwise (killed writers over thousands of trials, 1,000,000
 *    create-use-drop cycles, 200,000 connect/close cycles…).
 *
 * Usage: npm run soak [-- --only node,deno,bun] [--fuzz N] [--seed S] [--skip-tests]
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const only = opt("--only", "node,deno,bun").split(",");
const fuzz = opt("--fuzz", "100000");
const seed = opt("--seed", String((Math.random() * 0x7fffffff) | 0 || 1));
const bin = (name) => {
  const local = join(root, "node_modules", ".bin", name);
  return existsSync(local) ? local : name;
};
const RUN = {
  node: (f) => [process.execPath, ["--import", "tsx", f]],
  deno: (f) => [bin("deno"), ["run", "-A", f]],
  bun: (f) => [bin("bun"), ["run", f]],
};

const results = [];
function step(name, command, argv, env) {
  console.log(`\n━━━━ ${name}`);
  const started = Date.now();
  const r = spawnSync(command, argv, { cwd: root, stdio: "inherit", env: { ...process.env, ...env } });
  const ok = r.status === 0;
  results.push({ name, ok, seconds: (Date.now() - started) / 1000 });
  console.log(`${ok ? "✔" : "✘"} ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

if (!args.includes("--skip-tests")) {
  console.log(`fuzzer: ${fuzz} mutations, seed ${seed} (replay: npm run soak -- --seed ${seed})`);
  step(
    "tests/reliability with soak sizes",
    process.execPath,
    [
      join(root, "scripts", "test.mjs"),
      "--no-check",
      "--only",
      only.join(","),
      "--test-timeout",
      "1800000",
      "--timeout",
      "3600",
      "tests/reliability",
    ],
    { PROCSHARE_SOAK: "1", PROCSHARE_SOAK_FUZZ: fuzz, PROCSHARE_SOAK_SEED: seed },
  );
}
const dir = join(root, "scripts", "soak");
for (const f of readdirSync(dir).filter((f) => f.endsWith(".ts") && !f.startsWith("_")).sort()) {
  for (const rt of only) {
    const [command, argv] = RUN[rt](join(dir, f));
    step(`${f} on ${rt}`, command, argv, { PROCSHARE_SOAK: "1" });
  }
}
console.log("\n━━━━ soak summary");
for (const r of results) console.log(`${r.ok ? "✔" : "✘"} ${r.name} (${r.seconds.toFixed(1)} s)`);
const failed = results.filter((r) => !r.ok).length;
console.log(`soak: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
