#!/usr/bin/env node
/**
 * Structural checks of the library's source files (not tests, scripts or
 * examples), run by `npm test` beside tsc and lint:
 *
 *   1. no import cycles: the static imports (`import … from`, `export … from`,
 *      `import "…"`) among the library's files form no circle; each circle
 *      found is printed as its files;
 *   2. the Promise API (mod.ts and what it imports) does not import the
 *      `effect` package: only `effect.ts` does;
 *   3. one module waits: `Atomics.wait`, `Atomics.waitAsync` and
 *      `Atomics.notify` appear only in sync/_kernel.ts, so that a second
 *      memory (mmap + futex, for `shm:`) can be swapped in there.
 *
 * Dynamic `import()` is not an edge: it runs after every module has loaded.
 * Usage: node scripts/check_graph.mjs [root]   (exit 1 on any finding)
 * @module
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), ".."));
/** Folders of library source; root-level .ts files count too. */
const DIRS = ["core", "transports", "structures", "sync", "process"];
/** The one module allowed to call the waiting Atomics. */
const WAIT_MODULE = "sync/_kernel.ts";

/** @param {string} dir @returns {string[]} */
function tsFiles(dir) {
  const out = [];
  for (const name of readdirSync(path.join(ROOT, dir))) {
    const rel = path.posix.join(dir, name);
    if (statSync(path.join(ROOT, rel)).isDirectory()) out.push(...tsFiles(rel));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(rel);
  }
  return out;
}

const files = [
  ...readdirSync(ROOT).filter((f) => f.endsWith(".ts") && statSync(path.join(ROOT, f)).isFile()),
  ...DIRS.flatMap((d) => {
    try {
      return tsFiles(d);
    } catch {
      return [];
    }
  }),
].sort();
const known = new Set(files);

/** Source without comments (keeps line count), so doc examples are not imports. */
function code(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, " ")).replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

const IMPORT_RE = /(?:^|[;\n])\s*(?:import|export)\s+(?:type\s+)?(?:[\s\S]*?\sfrom\s+)?["']([^"']+)["']/g;

/** @type {Map<string, string[]>} */
const edges = new Map();
/** Files importing a bare package, by package. @type {Map<string, string[]>} */
const packages = new Map();
const findings = [];
for (const file of files) {
  const text = code(readFileSync(path.join(ROOT, file), "utf8"));
  const deps = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    // `import type` only: erased at run time, no edge in the module graph
    if (/^\s*(?:[;\n])?\s*(?:import|export)\s+type\s/.test(m[0])) continue;
    const spec = m[1];
    if (!spec.startsWith(".")) {
      const pkg = spec.split("/")[0];
      packages.set(pkg, [...(packages.get(pkg) ?? []), file]);
      continue;
    }
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
    if (known.has(target)) deps.push(target);
  }
  edges.set(file, deps);
  if (file !== WAIT_MODULE) {
    text.split("\n").forEach((line, i) => {
      const hit = /Atomics\s*\.\s*(waitAsync|wait|notify)\b/.exec(line);
      if (hit) findings.push(`${file}:${i + 1}: Atomics.${hit[1]} outside ${WAIT_MODULE} (use its functions)`);
    });
  }
}

// Tarjan's strongly connected components: every component of more than one file is a circle.
let index = 0;
const idx = new Map(), low = new Map(), onStack = new Set(), stack = [], cycles = [];
function strong(v) {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  onStack.add(v);
  for (const w of edges.get(v) ?? []) {
    if (!idx.has(w)) {
      strong(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const comp = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      comp.push(w);
    } while (w !== v);
    if (comp.length > 1 || (edges.get(v) ?? []).includes(v)) cycles.push(comp.sort());
  }
}
for (const f of files) if (!idx.has(f)) strong(f);

// what mod.ts loads, statically
const closure = new Set();
const todo = ["mod.ts"];
while (todo.length) {
  const f = todo.pop();
  if (closure.has(f) || !known.has(f)) continue;
  closure.add(f);
  todo.push(...(edges.get(f) ?? []));
}
for (const f of packages.get("effect") ?? []) {
  if (closure.has(f)) {
    findings.push(`${f}: imports "effect" and is loaded by mod.ts (the Promise API must not load effect)`);
  }
}

for (const c of cycles) findings.push(`import cycle of ${c.length} files: ${c.join(" → ")}`);
if (findings.length) {
  for (const f of findings) console.log(f);
  console.log(`check_graph: ${findings.length} finding(s) in ${files.length} files`);
  process.exit(1);
}
console.log(
  `check_graph: ${files.length} files, no import cycle, mod.ts loads ${closure.size} files and no effect, ` +
    `waits only in ${WAIT_MODULE}`,
);
