/**
 * The npm package as a user gets it: `npm pack` (whose `prepack` runs `npm run build`), then, in
 * fresh app folders outside the repository, the tarball installed as a dependency and a small
 * program that shares a dict and a lock with two worker threads (shared buffer) and with two
 * child processes (unix socket) — run by the plain runtime, never through tsx or the sources.
 *
 * Each runtime's run of this file exercises that runtime's apps:
 *   node  `node app.mjs` (ESM, no tsx installed); `node app.cjs` in an `npm init -y` app
 *         (CommonJS, `require("procshare")`: Node ≥ 20.19 requires ES modules without top-level
 *         await); `tsc --noEmit` of a TypeScript app made by `tsc --init` (plus
 *         `"module": "nodenext"`), with and without `skipLibCheck`;
 *   deno  a package.json + `npm install <tgz>`, then `deno run -A app.mjs`: with a package.json
 *         beside it Deno 2 resolves "procshare" from the local node_modules (nodeModulesDir
 *         "manual", its default then; no deno.json needed);
 *   bun   `bun add <tgz>`, then `bun app.mjs`.
 * The tarball is packed once per run; everything lands in one temporary folder, removed at the end.
 * npm comes from PATH; node is this process under Node, else the first on PATH (npm needs it);
 * deno and bun are the repository's node_modules/.bin ones.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { runtime } from "../transports/_runtime/runtime.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(ROOT, "node_modules", ".bin");
const TSC = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
/** Per command; a cold npm cache downloads effect and cbor-x once. */
const COMMAND_TIMEOUT_MS = 120_000;

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The real `node`: this process under Node, else the first `node` on PATH. */
function nodeBinary(): string {
  if (runtime === "node") return process.execPath;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir, "node");
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  throw new Error("Cannot find node on PATH, which npm needs");
}

const NODE = nodeBinary();

/**
 * The environment of every command: no npm variables of an enclosing `npm test` (its
 * `npm_config_local_prefix` names this repository), no NODE_OPTIONS (no `--import tsx`), and
 * this `node` first on PATH for npm's scripts.
 */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^npm_/i.test(k) || k === "INIT_CWD" || k === "NODE_OPTIONS") continue;
    env[k] = v;
  }
  env.PATH = [path.dirname(NODE), env.PATH ?? ""].join(path.delimiter);
  return env;
}

/** Runs a command to its end (killed after the timeout), collecting its output. */
function run(command: string, args: readonly string[], cwd: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { cwd, env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${COMMAND_TIMEOUT_MS} ms]`;
      child.kill("SIGKILL");
    }, COMMAND_TIMEOUT_MS);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a command that must succeed; returns its stdout. */
async function ok(command: string, args: readonly string[], cwd: string): Promise<string> {
  const r = await run(command, args, cwd);
  assert.equal(
    r.code,
    0,
    `${path.basename(command)} ${
      args.join(" ")
    } (in ${cwd}) exited with ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
  );
  return r.stdout;
}

const npm = (args: readonly string[], cwd: string) => ok("npm", args, cwd);

/** The worker, as an ES module: 20 increments of `count` under the lock, then its pid. */
const WORKER_MJS = `export default async function (dict, lock, name, rounds) {
  for (let i = 0; i < rounds; i++) {
    await lock.withLock(async () => {
      await dict.set("count", (await dict.get("count")) + 1);
    });
  }
  await dict.set(name, process.pid);
  return name;
}
`;

/** The same worker as a CommonJS module. */
const WORKER_CJS = WORKER_MJS.replace("export default async function", "module.exports = async function") + ";\n";

/**
 * The program: the main thread and two workers each add 20 to `count` under the lock, on the
 * shared buffer with threads, then on a unix socket with child processes; it prints the count,
 * the workers' results and how many processes wrote their pid.
 */
const SHARE = `async function share(transport, as) {
  const m = await Manager.start({ transport });
  try {
    const dict = await m.dict({ count: 0 });
    const lock = await m.lock();
    const names = [\`\${as}-a\`, \`\${as}-b\`];
    const workers = names.map((name) => spawn(worker, { args: [dict, lock, name, 20], as }));
    for (let i = 0; i < 20; i++) await lock.withLock(async () => dict.set("count", (await dict.get("count")) + 1));
    const done = await Promise.all(workers.map((w) => w.join()));
    const pids = new Set([process.pid, ...(await Promise.all(names.map((n) => dict.get(n))))]);
    console.log(\`\${as}: count \${await dict.get("count")}, workers \${done.join(" ")}, processes \${pids.size}\`);
  } finally {
    await m.shutdown();
  }
}
`;

const APP_MJS = `import { Manager, spawn } from "procshare";
import { layer } from "procshare/effect";
import { fileURLToPath } from "node:url";

const worker = new URL("./worker.mjs", import.meta.url);
const socket = fileURLToPath(new URL("./app.sock", import.meta.url));

${SHARE}
await share("shared-buffer:", "thread");
await share(\`unix:\${socket}\`, "process");
console.log(\`effect layer: \${typeof layer}\`);
`;

const APP_CJS = `const { Manager, spawn } = require("procshare");
const { layer } = require("procshare/effect");
const path = require("node:path");
const { pathToFileURL } = require("node:url");

const worker = pathToFileURL(path.join(__dirname, "worker.cjs"));
const socket = path.join(__dirname, "app.sock");

${SHARE}
(async () => {
  await share("shared-buffer:", "thread");
  await share(\`unix:\${socket}\`, "process");
  console.log(\`effect layer: \${typeof layer}\`);
})().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
`;

/** What the program prints on every runtime. */
const EXPECTED = [
  "thread: count 60, workers thread-a thread-b, processes 1",
  "process: count 60, workers process-a process-b, processes 3",
  "effect layer: function",
];

/** A TypeScript app using the public types of both entry points (no Node types: `tsc --init` sets `types: []`). */
const APP_TS = `import { type Dict, type Lock, LockError, Manager, spawn, type Spawned } from "procshare";
import * as P from "procshare/effect";
import type work from "./worker.js";

const m = await Manager.start({ transport: "shared-buffer:" });
const dict: Dict<string, number> = await m.dict<string, number>({ count: 0 });
const lock: Lock = await m.lock();
const w: Spawned<string> = spawn<typeof work>(new URL("./worker.js", import.meta.url), { args: [dict, lock, "a", 20] });
const name: string = await w.join();
const count: number | undefined = await dict.get("count");
try {
  await lock.acquire({ timeout: 10 });
} catch (e) {
  if (e instanceof LockError && e.reason === "Timeout") console.log("busy");
}
console.log(name, count, typeof P.layer);
await m.shutdown();
`;

const WORKER_TS = `import type { Dict, Lock } from "procshare";

export default async function (dict: Dict<string, number>, lock: Lock, name: string, rounds: number): Promise<string> {
  for (let i = 0; i < rounds; i++) {
    await lock.withLock(async () => {
      await dict.set("count", ((await dict.get("count")) ?? 0) + 1);
    });
  }
  return name;
}
`;

let tmp = "";
let tarball = "";

/** A fresh app folder holding `files` (name → text). */
function app(name: string, files: Readonly<Record<string, string>>): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), text);
  return dir;
}

const MODULE_APP = JSON.stringify({ name: "app", private: true, type: "module" });

/** Installs the tarball into `dir` with npm, its dependencies from the registry (or npm's cache). */
async function npmInstall(dir: string): Promise<void> {
  await npm(["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], dir);
  const installed = JSON.parse(fs.readFileSync(path.join(dir, "node_modules", "procshare", "package.json"), "utf8"));
  assert.equal(installed.name, "procshare");
}

function assertOutput(stdout: string): void {
  assert.deepEqual(stdout.trim().split("\n"), EXPECTED);
}

describe(`the npm package, installed from its tarball (${runtime})`, () => {
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "procshare-package-"));
    const packs = path.join(tmp, "pack");
    fs.mkdirSync(packs);
    // prepack builds dist/ first
    await npm(["pack", "--silent", "--pack-destination", packs], ROOT);
    const [file] = fs.readdirSync(packs).filter((f) => f.endsWith(".tgz"));
    assert.ok(file, `npm pack left no tarball in ${packs}`);
    tarball = path.join(packs, file);
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  if (runtime === "node") {
    describe("Node", () => {
      // one ES module app for the plain run and the type check, and a CommonJS app, installed at
      // once: installing effect (69 MB) is most of the time
      let esm = "";
      let cjs = "";
      before(async () => {
        esm = app("node-esm", {
          "package.json": MODULE_APP,
          "app.mjs": APP_MJS,
          "worker.mjs": WORKER_MJS,
          "app.ts": APP_TS,
          "worker.ts": WORKER_TS,
        });
        cjs = app("node-cjs", { "app.cjs": APP_CJS, "worker.cjs": WORKER_CJS });
        await npm(["init", "-y"], cjs);
        await Promise.all([npmInstall(esm), npmInstall(cjs)]);
      });

      it("ships dist/, README.md, LICENSE and package.json only; plain ESM runs with `node app.mjs`", async () => {
        const pkg = path.join(esm, "node_modules", "procshare");
        assert.deepEqual(fs.readdirSync(pkg).sort(), ["LICENSE", "README.md", "dist", "package.json"]);
        assert.ok(
          fs.existsSync(path.join(pkg, "dist", "process", "_bootstrap.mjs")),
          "the thread bootstrap is shipped",
        );
        assert.ok(!fs.existsSync(path.join(esm, "node_modules", "tsx")), "tsx must not be installed");
        assertOutput(await ok(NODE, ["app.mjs"], esm));
      });

      it("TypeScript: `tsc --noEmit` of a `tsc --init` app (module nodenext) reports no error", async () => {
        await ok(NODE, [TSC, "--init"], esm);
        const config = path.join(esm, "tsconfig.json");
        let text = fs.readFileSync(config, "utf8");
        if (/^\s*"module":/m.test(text)) text = text.replace(/^(\s*)"module":\s*"[^"]*"/m, '$1"module": "nodenext"');
        else text = text.replace(/"compilerOptions":\s*{/, '$&\n    "module": "nodenext",');
        fs.writeFileSync(config, text);
        assert.match(text, /"module": "nodenext"/);
        // tsc --init's defaults (skipLibCheck on), then the declarations themselves checked too
        for (const extra of [[], ["--skipLibCheck", "false"]]) {
          const r = await run(NODE, [TSC, "--noEmit", "--pretty", "false", ...extra], esm);
          assert.equal(r.stdout + r.stderr, "", `tsc --noEmit ${extra.join(" ")} reported errors`);
          assert.equal(r.code, 0);
        }
      });

      it("CommonJS: `node app.cjs` in an `npm init -y` app requires the package", async () => {
        assert.equal(
          JSON.parse(fs.readFileSync(path.join(cjs, "package.json"), "utf8")).type ?? "commonjs",
          "commonjs",
        );
        assertOutput(await ok(NODE, ["app.cjs"], cjs));
      });
    });
  }

  if (runtime === "deno") {
    it("Deno: `deno run -A app.mjs` beside a package.json and the node_modules npm installed", async () => {
      const dir = app("deno", { "package.json": MODULE_APP, "app.mjs": APP_MJS, "worker.mjs": WORKER_MJS });
      await npmInstall(dir);
      assertOutput(await ok(path.join(BIN, "deno"), ["run", "-A", "app.mjs"], dir));
    });
  }

  if (runtime === "bun") {
    it("Bun: `bun add <tarball>`, then `bun app.mjs`", async () => {
      const dir = app("bun", { "package.json": MODULE_APP, "app.mjs": APP_MJS, "worker.mjs": WORKER_MJS });
      const bun = path.join(BIN, "bun");
      await ok(bun, ["add", tarball], dir);
      assert.ok(fs.existsSync(path.join(dir, "node_modules", "procshare", "dist", "mod.js")));
      assertOutput(await ok(bun, ["app.mjs"], dir));
    });
  }
});
