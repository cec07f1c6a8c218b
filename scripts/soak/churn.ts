/**
 * Soak: 200,000 real connect/call/close cycles against one manager server
 * (issue 8, item 3; `tests/reliability/connection_churn_test.ts` runs 2,000 in
 * `npm test`). Before the fix, every connection past the 65,532nd was welcomed
 * and then failed its first call with `TransportError("Closed")`.
 *
 * Every cycle connects, makes one call and closes. Every 1,000th connection
 * also takes a shared Lock and closes without releasing it; the next
 * connection (which may reuse its id's slot) must get it with `ownerDied`.
 * It prints progress every 20,000 cycles (rate, RSS, connections open, ids
 * alive) and exits non-zero on the first failure, or if memory or ids grew.
 *
 * Usage (any runtime): `node --import tsx scripts/soak/churn.ts`,
 * `npx deno run -A scripts/soak/churn.ts`, `npx bun scripts/soak/churn.ts`;
 * `PROCSHARE_SOAK_CHURN=<cycles>` changes the count.
 * @module
 */
import process from "node:process";
import { KINDS } from "../../kinds.ts";
import { HOST_ID } from "../../transports/_host.ts";
import { processRegistry } from "../../transports/_runtime/threads.ts";
import { connect } from "../../transports/socket/client.ts";
import { startServer } from "../../transports/socket/server.ts";

const CYCLES = Number(process.env.PROCSHARE_SOAK_CHURN ?? 200_000);
const REPORT_EVERY = 20_000;
const LOCK_EVERY = 1_000;

function fail(message: string): never {
  console.error(`churn: FAILED: ${message}`);
  process.exit(1);
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;

const server = await startServer({ address: `unix:/tmp/procshare-soak-churn-${process.pid}.sock`, kinds: KINDS });
const setup = await connect(server.address, { authkey: server.authkey });
const { id: lockId } = await setup.open("lock", "soak-churn", []);
await setup.close();

const started = performance.now();
let lap = started;
let rssAfterWarmup = 0;
let lockPending = false;
let ownerDiedSeen = 0;
for (let i = 1; i <= CYCLES; i++) {
  let c;
  try {
    c = await connect(server.address, { authkey: server.authkey });
  } catch (e) {
    fail(`connect ${i}: ${(e as Error).message}`);
  }
  try {
    if (typeof await c.call(HOST_ID, "instance", []) !== "string") fail(`cycle ${i}: instance is not a string`);
    if (lockPending) {
      // the previous connection closed holding the lock: ours within 1 s, told its owner died
      const died = await c.call(lockId, "acquire", [1000]);
      if (died !== true) fail(`cycle ${i}: a closed connection's lock came without ownerDied (${String(died)})`);
      await c.call(lockId, "release", []);
      lockPending = false;
      ownerDiedSeen++;
    } else if (i % LOCK_EVERY === 0) {
      if (await c.call(lockId, "acquire", [1000]) !== false) fail(`cycle ${i}: a free lock reported ownerDied`);
      lockPending = true; // closed below without releasing
    }
  } catch (e) {
    fail(`cycle ${i}: ${(e as Error).message}`);
  }
  await c.close();
  if (lockPending) {
    // the server must see the holder closed before the next connection asks for the lock
    while (server.connectionCount > 0) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  if (i === REPORT_EVERY) rssAfterWarmup = process.memoryUsage().rss;
  if (i % REPORT_EVERY === 0 || i === CYCLES) {
    const now = performance.now();
    const n = i % REPORT_EVERY || REPORT_EVERY;
    console.log(
      `churn: ${i} cycles, ${(n / ((now - lap) / 1000)).toFixed(0)}/s, RSS ${mib(process.memoryUsage().rss)}, ` +
        `${server.connectionCount} open, ${processRegistry().alive()} ids alive, ${ownerDiedSeen} locks passed on`,
    );
    lap = now;
  }
}
const seconds = (performance.now() - started) / 1000;
const alive = processRegistry().alive();
const rss = process.memoryUsage().rss;
await server.close();
if (alive > 64) fail(`${alive} ids alive after the churn`);
if (rssAfterWarmup > 0 && rss > rssAfterWarmup + (128 << 20)) {
  fail(`RSS grew from ${mib(rssAfterWarmup)} to ${mib(rss)}`);
}
console.log(
  `churn: ok — ${CYCLES} connect/call/close cycles in ${seconds.toFixed(1)} s ` +
    `(${(CYCLES / seconds).toFixed(0)}/s), ${ownerDiedSeen} locks of closed connections passed on with ownerDied`,
);
