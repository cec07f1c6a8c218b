/**
 * Soak: 1,000,000 create-use-drop cycles of an anonymous dict, on the shared
 * buffer and through a manager server (issue 8, item 2;
 * `tests/reliability/free_test.ts` runs 40,000 and 2,000 in `npm test`).
 * Before the fix the manager kept every structure: ~31,000 temporary dicts
 * aborted the process, and a server kept whatever its clients opened.
 *
 * Shared buffer: every dict is dropped without `close()`; only the garbage
 * collector frees it. Socket: three dicts in four are closed, the fourth is
 * dropped, so the server frees it when its client is collected (the
 * FinalizationRegistry path, which runs only after a full collection: a
 * client that only drops, as fast as this loop, leaves the server holding
 * tens of thousands of dicts between two collections, and meets the server's
 * bound of anonymous structures, `CapacityError`). It prints RSS (and the server's table size) at
 * the start, every 100,000 cycles and at the end, and exits non-zero if RSS
 * grew by more than 256 MiB after the warm-up, or the server's table did not
 * shrink back.
 *
 * Usage (any runtime): `node --import tsx scripts/soak/free.ts`,
 * `npx deno run -A scripts/soak/free.ts`, `npx bun scripts/soak/free.ts`;
 * `PROCSHARE_SOAK_FREE=<cycles>` changes the count (both phases).
 * @module
 */
import process from "node:process";
import { Manager } from "../../mod.ts";
import { KINDS } from "../../kinds.ts";
import { startServer } from "../../transports/socket/server.ts";

const CYCLES = Number(process.env.PROCSHARE_SOAK_FREE ?? 1_000_000);
const REPORT_EVERY = 100_000;
/** On the socket, one client in this many is dropped without close(). */
const DROP_EVERY = Number(process.env.PROCSHARE_SOAK_FREE_DROP_EVERY ?? 10);
const WARMUP = Math.min(50_000, Math.floor(CYCLES / 10));
const RSS_GROWTH_LIMIT = 256 * 2 ** 20;
/** The server's table may lag the clients by what the collector has not reached yet, never by all of them. */
const TABLE_LIMIT = 200_000;

const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
const rss = () => process.memoryUsage().rss;

function fail(message: string): never {
  console.error(`free: FAILED: ${message}`);
  process.exit(1);
}

/** Runs `cycle` CYCLES times; checks RSS after the warm-up against the end. */
async function phase(name: string, cycle: (i: number) => Promise<void>, table?: () => number): Promise<void> {
  const start = rss();
  console.log(`free: ${name}: ${CYCLES} cycles, RSS at start ${mib(start)}`);
  const started = performance.now();
  let lap = started;
  let warm = start;
  for (let i = 1; i <= CYCLES; i++) {
    await cycle(i);
    if (i === WARMUP) warm = rss();
    if (table !== undefined && i % 1000 === 0 && table() > TABLE_LIMIT) {
      fail(`${name}: the server holds ${table()} structures after ${i} cycles`);
    }
    if (i % REPORT_EVERY === 0) {
      const now = performance.now();
      console.log(
        `free: ${name}: ${i} cycles, ${(REPORT_EVERY / ((now - lap) / 1000)).toFixed(0)}/s, RSS ${mib(rss())}` +
          (table === undefined ? "" : `, server table ${table()}`),
      );
      lap = now;
    }
  }
  const end = rss();
  console.log(
    `free: ${name}: done in ${((performance.now() - started) / 1000).toFixed(1)} s, RSS start ${mib(start)}, ` +
      `after warm-up ${mib(warm)}, end ${mib(end)}`,
  );
  if (end - warm > RSS_GROWTH_LIMIT) fail(`${name}: RSS grew from ${mib(warm)} to ${mib(end)}`);
}

// 1. Shared buffer: nothing but the clients holds an anonymous dict
{
  await using m = await Manager.start();
  await phase("shared buffer", async (i) => {
    const d = await m.dict<string, number>();
    d.setSync("k", i);
    if (d.getSync("k") !== i) fail(`shared buffer: cycle ${i} read back ${d.getSync("k")}`);
  });
}

// 2. Socket: per-connection references, given back by close() or by the collector
{
  await using server = await startServer({
    address: `unix:/tmp/procshare-soak-free-${process.pid}.sock`,
    kinds: KINDS,
  });
  await using m = await Manager.connect(server.address, { authkey: server.authkey });
  const base = server.host.size;
  await phase("socket", async (i) => {
    const d = await m.dict<string, number>();
    await d.set("k", i);
    if (i % DROP_EVERY !== 0) d.close();
  }, () => server.host.size);
  // the dropped clients of the last cycles go back as the collector finds them: make garbage until it has
  const deadline = Date.now() + 30_000;
  let junk: unknown[] = [];
  while (server.host.size > base + 1000 && Date.now() < deadline) {
    junk = Array.from({ length: 100_000 }, (_, k) => ({ k }));
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  junk.length = 0;
  console.log(`free: socket: server table ${server.host.size} at the end (${base} before)`);
  if (server.host.size > base + 1000) fail(`socket: the server still holds ${server.host.size - base} structures`);
}
console.log("free: ok");
