#!/usr/bin/env node
// @ts-check
/**
 * The one check-and-test pipeline of procshare: what `npm test` and `.ci/run` run.
 *
 *   1. checks:  tsc -p tsconfig.json · scripts/check_graph.mjs (no import cycle; waits only in
 *               sync/_kernel.ts) · deno check --doc <sources> · deno lint · deno fmt --check ·
 *               npm run check:package (build, publint, attw)
 *   2. tests:   every tests/**\/*_test.ts (node:test + node:assert/strict), unchanged, on Node
 *               (via tsx), Deno and Bun: one runtime after the other, one process per test file
 *   3. summary: each check and runtime, then exactly one last line
 *               `tests: N passed, N failed, N skipped` summed over the runtimes.
 *
 * The exit code is 0 only when every check passed and no test failed. A failed check does not
 * stop the tests: one run shows everything.
 *
 * Usage:
 *   npm test                                  everything
 *   npm test -- tests/sync                    only test files under tests/sync (dirs or files, any number)
 *   npm test -- --only node tests/foo_test.ts one runtime, one file
 *   node scripts/test.mjs --only deno,bun --no-check -v
 *
 * Flags:
 *   <path>...            test files, or directories searched for *_test.ts (default: tests/)
 *   --only <list>        runtimes, comma-separated or repeated: node, deno, bun (default: all three)
 *   --no-check           skip the checks
 *   --no-test            run only the checks
 *   -v, --verbose        stream every command's output live (default: one line per check and test
 *                        file, and the whole output of whatever failed)
 *   --jobs <n>           test files run at once per runtime (default 1; the machines have 2 cores)
 *   --test-timeout <ms>  per test (default 60000): Bun's --timeout, and on every runtime a test file
 *                        printing nothing for this long plus 15 s is killed as hung
 *   --timeout <s>        wall clock per runtime, and per check (default 900); then the process tree
 *                        is killed, and files not yet run count as failed
 *   -h, --help           print this text
 *
 * Every command's output also goes, without colours, to .tmp/test/run-<pid>/<check or runtime>.log;
 * Deno's JUnit reports to .tmp/test/run-<pid>/deno/. A run removes the folders of finished runs.
 *
 * Each test file runs in its own process group, killed with everything it started (workers, child
 * processes) when the file ends, hangs or runs out of time, so nothing one file leaves behind can
 * hang the runner or disturb the next file:
 *   node  node --import tsx --test --test-force-exit --test-reporter=spec <file>
 *         (no --test-timeout: Node 20 applies it to the whole file and then reports none of its
 *         tests; a test's own { timeout } option works)
 *   deno  deno test -A --no-check --junit-path=.tmp/test/deno/<file>.xml <file>
 *         (Deno has no per-test timeout flag; { timeout } works)
 *   bun   bun test --timeout=<ms> <./file>
 *
 * Counting: a test is a leaf (`it`/`test` without subtests; a `describe` is not a test). Node also
 * counts a `test` holding `t.test` subtests, and Bun reports such subtests as one test: prefer
 * `describe`/`it` to `t.test`. Todo tests count as skipped; Node's cancelled tests as failed.
 * A file that exits non-zero without a reported failure (it does not load, it crashes) counts one
 * failure, and so does a file killed as hung or out of time.
 */
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** This run's logs: runs may overlap in one working tree, so each has its own folder. */
const OUT = path.join(ROOT, ".tmp", "test", `run-${process.pid}`);
const RUNTIMES = ["node", "deno", "bun"];
/** What `deno check` covers, when present: every root module plus these folders. */
const CHECK_DIRS = ["core", "transports", "structures", "sync", "process", "tests", "scripts", "examples"];
/** Silence beyond the per-test timeout before a test file counts as hung. */
const HANG_GRACE_MS = 15_000;

/**
 * @typedef {{ passed: number, failed: number, skipped: number, notes: string[] }} Counts
 * @typedef {{ code: number | null, signal: string | null, output: string, killed: string | null,
 *   seconds: number }} RunResult
 * @typedef {ReturnType<typeof parseArgs>} Options
 * @typedef {{ version: () => string, command: (file: string, opts: Options) => string[],
 *   count: (file: string, output: string) => Counts }} Runner
 */

/** @type {Record<string, Runner>} */
const RUNNERS = {
  node: {
    version: () => `node ${process.versions.node}`,
    command: (file) => [
      process.execPath,
      "--import",
      "tsx",
      "--test",
      "--test-force-exit",
      "--test-reporter=spec",
      "--test-reporter-destination=stdout",
      file,
    ],
    // The spec reporter ends with "ℹ tests 4", "ℹ pass 4", "ℹ fail 0", "ℹ cancelled 0", …
    count: (_file, output) => {
      const n = (/** @type {string} */ key) => lastNumber(output, new RegExp(`^\\S*\\s*${key} (\\d+)\\s*$`, "gm"));
      return { passed: n("pass"), failed: n("fail") + n("cancelled"), skipped: n("skipped") + n("todo"), notes: [] };
    },
  },
  deno: {
    version: () => versionOf("deno"),
    // --no-check: the checks ran `deno check` already (and --no-check on our command line skips both).
    command: (file) => [bin("deno"), "test", "-A", "--no-check", `--junit-path=${junitPath(file)}`, file],
    count: (file) => countJunit(junitPath(file)),
  },
  bun: {
    version: () => `bun ${versionOf("bun")}`,
    // The "./" of our paths matters: Bun takes a bare argument as a file-name filter.
    command: (file, opts) => [bin("bun"), "test", `--timeout=${opts.testTimeoutMs}`, file],
    // Bun ends with " 4 pass", " 0 fail", " 1 skip", " 1 todo", " 1 error" (a file that did not
    // load, or an error between tests: usually counted in "fail" too, not always).
    count: (_file, output) => {
      const n = (/** @type {string} */ key) => lastNumber(output, new RegExp(`^\\s*(\\d+) ${key}\\s*$`, "gm"));
      return { passed: n("pass"), failed: Math.max(n("fail"), n("error")), skipped: n("skip") + n("todo"), notes: [] };
    },
  },
};

/** @type {Set<number>} process groups still running, killed if we are interrupted */
const groups = new Set();

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  process.chdir(ROOT);
  removeFinishedRuns();
  mkdirSync(path.join(OUT, "deno"), { recursive: true });
  for (const signal of /** @type {const} */ (["SIGINT", "SIGTERM", "SIGHUP"])) {
    process.on(signal, () => {
      for (const pid of groups) killGroup(pid);
      process.exit(130);
    });
  }

  /** @type {{ name: string, ok: boolean }[]} */
  const checks = [];
  if (opts.check) {
    const sources = [
      ...readdirSync(ROOT).filter((f) => f.endsWith(".ts")).sort(),
      ...CHECK_DIRS.filter((d) => existsSync(d)),
    ];
    /** @type {[string, string[]][]} */
    const steps = [
      ["tsc", [bin("tsc"), "-p", "tsconfig.json"]],
      ["graph", [process.execPath, "scripts/check_graph.mjs"]],
      ["deno check", [bin("deno"), "check", "--doc", ...sources]],
      ["deno lint", [bin("deno"), "lint"]],
      ["deno fmt", [bin("deno"), "fmt", "--check"]],
      // the npm package: build dist/, then publint and @arethetypeswrong/cli on it
      ["package", ["npm", "run", "--silent", "check:package"]],
    ];
    section("checks");
    for (const [name, argv] of steps) {
      const log = openLog(name);
      const result = await run(argv, { log, echo: opts.verbose, overallMs: opts.timeoutS * 1000 });
      await closeLog(log);
      const ok = result.code === 0 && !result.killed;
      const why = ok ? "" : `${result.killed ?? `exit ${result.signal ?? `code ${result.code}`}`}, `;
      report(ok, name, `${why}${result.seconds.toFixed(1)} s`, result, opts);
      checks.push({ name, ok });
    }
  }

  /** @type {{ runtime: string, counts: Counts, seconds: number }[]} */
  const results = [];
  if (opts.test) {
    const files = findTests(opts.paths);
    for (const runtime of opts.runtimes) {
      const started = Date.now();
      const counts = files.length
        ? await runFiles(runtime, files, opts)
        : { passed: 0, failed: 1, skipped: 0, notes: [`no *_test.ts file under ${opts.paths.join(" ")}`] };
      results.push({ runtime, counts, seconds: (Date.now() - started) / 1000 });
    }
  }

  section("summary");
  if (checks.length) {
    const failed = checks.filter((c) => !c.ok).map((c) => c.name);
    console.log(`checks: ${checks.map((c) => `${c.name} ${c.ok ? "✔" : "✘"}`).join(", ")}`);
    if (failed.length) console.log(`checks: ${failed.length} failed (${failed.join(", ")}); logs in ${rel(OUT)}/`);
  }
  const total = { passed: 0, failed: 0, skipped: 0 };
  for (const { runtime, counts, seconds } of results) {
    console.log(`${runtime.padEnd(5)} ${describe(counts)} (${seconds.toFixed(1)} s)`);
    for (const note of counts.notes) console.log(`      ${note}`);
    total.passed += counts.passed;
    total.failed += counts.failed;
    total.skipped += counts.skipped;
  }
  console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
  return checks.some((c) => !c.ok) || total.failed > 0 ? 1 : 0;
}

/**
 * Runs each file in its own process, `opts.jobs` at a time, within the runtime's time budget.
 * @param {string} runtime
 * @param {string[]} files
 * @param {Options} opts
 * @returns {Promise<Counts>}
 */
async function runFiles(runtime, files, opts) {
  const runner = RUNNERS[runtime];
  section(`${runner.version()}: ${files.length} test file(s)`);
  console.log(`$ ${runner.command("<file>", opts).map((a) => a.replace(`${ROOT}/`, "")).join(" ")}`);
  const log = openLog(runtime);
  const deadline = Date.now() + opts.timeoutS * 1000;
  /** @type {Counts} */
  const total = { passed: 0, failed: 0, skipped: 0, notes: [] };
  const queue = [...files];
  const worker = async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      const left = deadline - Date.now();
      /** @type {Counts} */
      let counts;
      if (left <= 0) {
        counts = {
          passed: 0,
          failed: 1,
          skipped: 0,
          notes: [`${file}: not run, the ${opts.timeoutS} s budget was spent`],
        };
        report(false, file, "not run: out of time", null, opts);
      } else {
        log.write(`\n──── ${file}\n`);
        const result = await run(runner.command(file, opts), {
          log,
          echo: opts.verbose && opts.jobs === 1,
          overallMs: left,
          silenceMs: opts.testTimeoutMs + HANG_GRACE_MS,
        });
        counts = settle(runner.count(file, result.output), result, file);
        report(counts.failed === 0, file, `${describe(counts)}, ${result.seconds.toFixed(1)} s`, result, opts);
      }
      total.passed += counts.passed;
      total.failed += counts.failed;
      total.skipped += counts.skipped;
      total.notes.push(...counts.notes);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.jobs, files.length) }, worker));
  await closeLog(log);
  return total;
}

/**
 * A run that was killed, or exited non-zero without a failed test in its report, is one failure.
 * @param {Counts} counts
 * @param {RunResult} result
 * @param {string} file
 * @returns {Counts}
 */
function settle(counts, result, file) {
  if (result.killed) {
    counts.failed += 1;
    counts.notes.push(`${file}: ${result.killed}`);
  } else if (result.code !== 0 && counts.failed === 0) {
    counts.failed += 1;
    counts.notes.push(
      `${file}: exit ${result.signal ?? `code ${result.code}`} with no failed test reported (see its output)`,
    );
  }
  return counts;
}

/**
 * Deno's JUnit report lists `describe` blocks and `t.test` parents as test cases beside their
 * steps (named "parent > child"); count leaves, plus any parent that failed on its own (a hook).
 * @param {string} file
 * @returns {Counts}
 */
function countJunit(file) {
  const counts = { passed: 0, failed: 0, skipped: 0, notes: /** @type {string[]} */ ([]) };
  if (!existsSync(file)) return counts;
  const cases = [
    ...readFileSync(file, "utf8").matchAll(/<testcase name="([^"]*)"[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g),
  ]
    .map((m) => ({
      name: m[1].replace(/&(lt|gt|quot|apos|amp);/g, (_, e) => XML_ENTITIES[e]),
      failed: /<failure\b/.test(m[2] ?? ""),
      skipped: /<skipped\b/.test(m[2] ?? ""),
    }));
  for (const c of cases) {
    const children = cases.filter((o) => o.name.startsWith(`${c.name} > `));
    if (children.length === 0) {
      if (c.failed) counts.failed++;
      else if (c.skipped) counts.skipped++;
      else counts.passed++;
    } else if (c.failed && !children.some((o) => o.failed)) {
      counts.failed++;
    }
  }
  return counts;
}

/** @type {Record<string, string>} */
const XML_ENTITIES = { lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" };

// ─── processes ───────────────────────────────────────────────────────────────────────────────

/**
 * Runs a command in its own process group, with its output captured, written without colours to
 * the log, and echoed live when `echo`. Kills the whole group — the tests' workers and child
 * processes included — after `overallMs`, after `silenceMs` without output, and once the command
 * has exited.
 * @param {string[]} argv
 * @param {{ log: import("node:fs").WriteStream, echo: boolean, overallMs: number, silenceMs?: number }} options
 * @returns {Promise<RunResult>}
 */
function run([cmd, ...args], { log, echo, overallMs, silenceMs }) {
  // Colours when we print to a terminal (or the caller forces them); none in logs and CI.
  const env = { ...process.env };
  if (process.stdout.isTTY) env.FORCE_COLOR ??= "1";
  else if (env.FORCE_COLOR === undefined) env.NO_COLOR = "1";
  const started = Date.now();
  return new Promise((resolve) => {
    /** @type {string[]} */
    const chunks = [];
    /** @type {string | null} */
    let killed = null;
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const pid = child.pid;
    if (pid !== undefined) groups.add(pid);
    const onData = (/** @type {Buffer | string} */ data) => {
      const text = data.toString();
      chunks.push(text);
      if (echo) process.stdout.write(text);
      log.write(stripAnsi(text));
      silence?.refresh();
    };
    const kill = (/** @type {string} */ why) => {
      if (killed) return;
      killed = why;
      onData(`\n✘ killed: ${why}\n`);
      if (pid !== undefined) killGroup(pid);
    };
    const overall = setTimeout(() => kill(`still running after ${Math.round(overallMs / 1000)} s`), overallMs);
    const silence = silenceMs
      ? setTimeout(() => kill(`no output for ${silenceMs / 1000} s: a test hangs or blocks its thread`), silenceMs)
      : undefined;
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("error", (error) => onData(`cannot run ${cmd}: ${error.message}\n`));
    // "exit" comes before the pipes close; a grandchild still holding them would keep "close"
    // away forever, so the group goes first.
    child.on("exit", () => {
      if (pid !== undefined) killGroup(pid);
    });
    child.on("close", (code, signal) => {
      clearTimeout(overall);
      clearTimeout(silence);
      if (pid !== undefined) groups.delete(pid);
      resolve({ code, signal, output: chunks.join(""), killed, seconds: (Date.now() - started) / 1000 });
    });
  });
}

/** @param {number} pid */
function killGroup(pid) {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

// ─── arguments, files, output ────────────────────────────────────────────────────────────────

/** @param {string[]} argv */
function parseArgs(argv) {
  /** @type {string[]} */
  const only = [];
  /** @type {string[]} */
  const paths = [];
  let check = true, test = true, verbose = false, jobs = 1, testTimeoutMs = 60_000, timeoutS = 900;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].startsWith("--") && argv[i].includes("=")
      ? [argv[i].slice(0, argv[i].indexOf("=")), argv[i].slice(argv[i].indexOf("=") + 1)]
      : [argv[i], undefined];
    const value = () => inline ?? argv[++i] ?? usage(`Cannot parse arguments as '${flag}' needs a value`);
    const positive = () => {
      const v = value();
      const n = Number(v);
      return Number.isInteger(n) && n > 0
        ? n
        : usage(`Cannot parse arguments as '${flag}' must be a positive integer: received ${v}`);
    };
    switch (flag) {
      case "-h":
      case "--help":
        usage();
        break;
      case "--only":
        for (const r of value().split(",").map((s) => s.trim()).filter(Boolean)) {
          if (!RUNTIMES.includes(r)) usage(`Cannot parse arguments as '--only' takes node, deno or bun: received ${r}`);
          only.push(r);
        }
        break;
      case "--no-check":
        check = false;
        break;
      case "--no-test":
        test = false;
        break;
      case "-v":
      case "--verbose":
        verbose = true;
        break;
      case "--jobs":
        jobs = positive();
        break;
      case "--test-timeout":
        testTimeoutMs = positive();
        break;
      case "--timeout":
        timeoutS = positive();
        break;
      default:
        if (flag.startsWith("-")) usage(`Cannot parse arguments as the flag is unknown: received ${flag}`);
        if (!existsSync(flag)) usage(`Cannot select tests as the path does not exist: received ${flag}`);
        // Relative to where the command started (npm runs scripts from the root anyway).
        paths.push(rel(path.resolve(flag)));
    }
  }
  return {
    runtimes: only.length ? RUNTIMES.filter((r) => only.includes(r)) : RUNTIMES,
    paths: paths.length ? paths : ["tests"],
    check,
    test,
    verbose,
    jobs,
    testTimeoutMs,
    timeoutS,
  };
}

/** @param {string} [error] @returns {never} */
function usage(error) {
  if (error) {
    console.error(`${error}\nUsage: node scripts/test.mjs [flags] [path...]; --help for more`);
    process.exit(2);
  }
  const text = readFileSync(fileURLToPath(import.meta.url), "utf8");
  const doc = text.slice(text.indexOf("/**") + 3, text.indexOf("*/"));
  console.log(doc.replace(/^ \* ?/gm, "").replace("**\\/", "**/").trim());
  process.exit(0);
}

/**
 * Test files under the given paths (relative to the root), sorted, as "./"-prefixed paths: an
 * explicit file runs whatever its name, a directory gives its *_test.ts files.
 * @param {string[]} paths
 */
function findTests(paths) {
  /** @type {Set<string>} */
  const found = new Set();
  /** @param {string} p */
  const walk = (p) => {
    if (!statSync(p).isDirectory()) {
      if (p.endsWith("_test.ts")) found.add(p);
      return;
    }
    for (const entry of readdirSync(p)) {
      if (entry !== "node_modules" && !entry.startsWith(".")) walk(path.join(p, entry));
    }
  };
  for (const p of paths) {
    if (statSync(p).isFile()) found.add(p);
    else walk(p);
  }
  return [...found].sort().map((f) => `./${f.split(path.sep).join("/")}`);
}

/**
 * One line per check or file, after the whole output of a failure unless it was streamed already.
 * @param {boolean} ok
 * @param {string} what
 * @param {string} detail
 * @param {RunResult | null} result
 * @param {Options} opts
 */
function report(ok, what, detail, result, opts) {
  if (!ok && result && !(opts.verbose && opts.jobs === 1)) {
    console.log(`┌── output of ${what}`);
    process.stdout.write(result.output.endsWith("\n") ? result.output : `${result.output}\n`);
    console.log("└──");
  }
  console.log(`${ok ? "✔" : "✘"} ${what}  ${detail}`);
}

/** @param {Counts} c */
function describe(c) {
  return `${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`;
}

/** @param {string} title */
function section(title) {
  console.log(`\n━━━━ ${title} ${"━".repeat(Math.max(4, 90 - title.length))}`);
}

/** The npm-installed tool (`npm ci` runs deno's and bun's postinstall: see allowScripts in package.json). */
/** @param {string} name */
function bin(name) {
  return path.join(ROOT, "node_modules", ".bin", name);
}

/** @param {string} name */
function versionOf(name) {
  const out = spawnSync(bin(name), ["--version"], { encoding: "utf8" });
  return (out.stdout ?? "").split("\n")[0].trim() || `${name} (no version: ${out.error?.message ?? out.stderr})`;
}

/** @param {string} file */
function junitPath(file) {
  return path.join(OUT, "deno", `${file.replace(/^\.\//, "").replaceAll("/", "__")}.xml`);
}

/** Deletes the folders of earlier runs whose process has ended. */
function removeFinishedRuns() {
  const parent = path.dirname(OUT);
  for (const entry of existsSync(parent) ? readdirSync(parent) : []) {
    const pid = Number(/^run-(\d+)$/.exec(entry)?.[1]);
    if (!pid || !isAlive(pid)) rmSync(path.join(parent, entry), { recursive: true, force: true });
  }
}

/** @param {number} pid */
function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return /** @type {NodeJS.ErrnoException} */ (error).code === "EPERM";
  }
}

/** @param {string} name */
function openLog(name) {
  return createWriteStream(path.join(OUT, `${name.replace(/\s+/g, "_")}.log`));
}

/** @param {import("node:fs").WriteStream} log @returns {Promise<void>} */
function closeLog(log) {
  return new Promise((resolve) => log.end(resolve));
}

/** @param {string} text @param {RegExp} re */
function lastNumber(text, re) {
  const all = [...stripAnsi(text).matchAll(re)];
  return all.length ? Number(all[all.length - 1][1]) : 0;
}

/** @param {string} p */
function rel(p) {
  return path.relative(ROOT, p) || ".";
}

/** @param {string} text */
function stripAnsi(text) {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
}

main().then((code) => process.exit(code), (error) => {
  console.error(error);
  process.exit(2);
});
