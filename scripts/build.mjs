#!/usr/bin/env node
// @ts-check
/**
 * `npm run build`: the npm package's dist/ from the library's TypeScript sources.
 *
 *   1. tsc -p tsconfig.build.json: ES modules, .d.ts declarations, source maps (sources inlined) and
 *      declaration maps, with relative `.ts` imports rewritten to `.js` in the JavaScript
 *      (`rewriteRelativeImportExtensions`);
 *   2. the same rewrite in the declarations, which tsc leaves as written: `./x.ts` → `./x.js`
 *      (same length, so the declaration maps stay right), so that every TypeScript version and
 *      resolver reads them;
 *   3. process/_bootstrap.mjs, the worker threads' first module, copied beside the built entry.
 *
 * The repository itself never runs from dist/: tests, examples and benchmarks run the sources.
 * Usage: node scripts/build.mjs   (exit 1 when tsc fails)
 * @module
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DIST = path.join(ROOT, "dist");
/** Files copied as they are, relative to the root (and to dist/). */
const COPIED = ["process/_bootstrap.mjs"];

/** A relative `.ts` specifier after `from`, `import(` or `import`, outside comments. */
const TS_SPECIFIER = /(\b(?:from|import)\s*\(?\s*["'])(\.\.?\/[^"']*?)\.ts(["'])/g;

/** @param {string} dir @returns {string[]} */
function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

/** @param {string} text */
function rewriteDeclaration(text) {
  return text
    .split("\n")
    .map((line) => /^\s*(?:\*|\/\/|\/\*)/.test(line) ? line : line.replace(TS_SPECIFIER, "$1$2.js$3"))
    .join("\n");
}

rmSync(DIST, { recursive: true, force: true });
const tsc = path.join(path.dirname(createRequire(import.meta.url).resolve("typescript/package.json")), "bin", "tsc");
const result = spawnSync(process.execPath, [tsc, "-p", path.join(ROOT, "tsconfig.build.json")], { stdio: "inherit" });
if (result.status !== 0) {
  console.error(`build: tsc failed (${result.signal ?? `exit code ${result.status}`})`);
  process.exit(1);
}
let declarations = 0;
for (const file of files(DIST)) {
  if (!file.endsWith(".d.ts")) continue;
  const text = readFileSync(file, "utf8");
  const rewritten = rewriteDeclaration(text);
  if (rewritten !== text) writeFileSync(file, rewritten);
  declarations++;
}
for (const rel of COPIED) copyFileSync(path.join(ROOT, rel), path.join(DIST, rel));
console.log(`build: ${path.relative(ROOT, DIST)}/ with ${declarations} declaration files`);
