/**
 * Soak: does a process that maps a large `shm:` region still collect its
 * garbage? (issue 9; docs/decisions.md, "Bun does not collect garbage while
 * a large region is mapped"). Two children of this runtime run the same loop
 * of short-lived strings, one with nothing mapped (the baseline) and one with
 * a region reserving 1 GiB (64 KiB committed: the default reservation of a
 * Dict, List or Queue on `shm:`). It prints each child's peak RSS and exits
 * non-zero when the child with the region peaks more than 256 MiB above the
 * baseline.
 *
 * Measured (Bun 1.4.5, 8M iterations): baseline 71 MiB; with the region
 * 1,430 MiB when its buffer covered the whole reservation (JavaScriptCore
 * counts an ArrayBuffer's whole `byteLength` as live heap, and lets that
 * much garbage and more pile up before a collection), 75 MiB now that it
 * covers what is committed. Node and Deno stay at the baseline.
 *
 * Usage (any runtime): `node --import tsx scripts/soak/region_gc.ts`,
 * `npx deno run -A scripts/soak/region_gc.ts`, `npx bun scripts/soak/region_gc.ts`;
 * `PROCSHARE_SOAK_REGION_GC=<iterations>` changes the count (default 8,000,000).
 * @module
 */
import process from "node:process";
import { spawnSync } from "node:child_process";
import { runtime, runtimeCommand } from "../../transports/_runtime/runtime.ts";

const ITERATIONS = Number(process.env.PROCSHARE_SOAK_REGION_GC ?? 8_000_000);
const RESERVE = 2 ** 30;
const LIMIT = 256 * 2 ** 20;

const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;

/** The loop both children run: strings kept for a moment, then dropped; returns the peak RSS seen. */
function churn(): number {
  let peak = process.memoryUsage().rss;
  let kept: string[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    kept.push(`item-${i}-${i * 7}`);
    if (kept.length === 1000) kept = [];
    if ((i & 0xffff) === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  return Math.max(peak, process.memoryUsage().rss);
}

async function child(mode: string): Promise<void> {
  if (mode === "region") {
    const { loadFfi } = await import("../../transports/shm/_ffi.ts");
    const { ShmRegion } = await import("../../transports/shm/_region.ts");
    using region = ShmRegion.create(await loadFfi(), { maxBytes: RESERVE, initialBytes: 64 * 1024 });
    region.unlink(); // the mapping outlives its name; nothing is left in /dev/shm if this child dies
    Atomics.store(region.i32, 0, 1);
    console.log(JSON.stringify({ peak: churn() }));
  } else {
    console.log(JSON.stringify({ peak: churn() }));
  }
}

function run(mode: string): number {
  const { command, args } = runtimeCommand(new URL(import.meta.url));
  const r = spawnSync(command, [...args, mode], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  if (r.status !== 0 || !line.startsWith("{")) {
    console.error(`region_gc: FAILED: the ${mode} child exited ${r.status}: ${r.stdout}`);
    process.exit(1);
  }
  return (JSON.parse(line) as { peak: number }).peak;
}

const mode = process.argv[2];
if (mode === "none" || mode === "region") {
  await child(mode);
} else {
  const none = run("none");
  const region = run("region");
  console.log(
    `region_gc (${runtime}, ${ITERATIONS} iterations): peak RSS ${mib(none)} without a region (baseline), ${
      mib(region)
    } with a 1 GiB region mapped`,
  );
  if (region - none > LIMIT) {
    console.error(`region_gc: FAILED: the region's child peaked ${mib(region - none)} above the baseline`);
    process.exit(1);
  }
}
