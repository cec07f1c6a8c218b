/**
 * Soak: writer threads of a shared-buffer Dict, List and ShareableList
 * killed mid-write, many times (issue 8, item 1;
 * `tests/reliability/killed_writer_test.ts` runs a handful in `npm test`).
 * Per structure: `PROCSHARE_SOAK_KILLS` rounds (default 60) of 3 writers
 * terminated at random moments (on Deno, whose `terminate()` cannot stop a
 * thread that does not yield, one writer frozen at the step point it is at),
 * then a sweep of the first `PROCSHARE_SOAK_STEPS` step points (default 120)
 * after a warm-up, each killed there three ways: as it is, scribbled over
 * (every word the step logged overwritten: killed half-way through any of
 * them), and at the first point from there inside an odd window. After every
 * kill an async read must resolve and the structure must be sound (every
 * entry decodes to a value a writer wrote, size equals the entries, the
 * table and the allocator's free lists are sound, a new write works).
 * Before the fix a kill left readers spinning and half-written entries.
 *
 * Usage (any runtime): `node --import tsx scripts/soak/killed_writer.ts`,
 * `npx deno run -A scripts/soak/killed_writer.ts`, `npx bun scripts/soak/killed_writer.ts`.
 * Exits non-zero at the first unsound state.
 * @module
 */
import process from "node:process";
import { Manager } from "../../mod.ts";
import { assertSound, create, DENO, killRound, type Kind } from "../../tests/fixtures/killed_writer_rounds.ts";

const ROUNDS = Number(process.env.PROCSHARE_SOAK_KILLS ?? 60);
const STEPS = Number(process.env.PROCSHARE_SOAK_STEPS ?? 120);
const WRITERS = DENO ? 1 : 3;

async function soak(kind: Kind): Promise<number> {
  await using m = await Manager.start();
  const s = await create(m, kind);
  let kills = 0;
  const t0 = performance.now();
  for (let t = 0; t < ROUNDS; t++) {
    const seeds = Array.from({ length: WRITERS }, (_, k) => 5000 + t * 7919 + k * 31);
    await killRound(kind, s, seeds, DENO ? -1 : 0);
    kills += WRITERS;
    assertSound(kind, s, `${kind} random round ${t}`);
  }
  console.log(`${kind}: ${kills} random kills sound (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  const t1 = performance.now();
  let steps = 0;
  for (let k = 1; k <= STEPS; k++) {
    for (const [odd, scribble] of [[false, false], [false, true], [true, true]] as const) {
      await killRound(kind, s, [k * 104729 + (odd ? 1 : 0)], k, odd, scribble);
      steps++;
      assertSound(kind, s, `${kind} step point ${k}${odd ? " (odd window)" : ""}${scribble ? " scribbled" : ""}`);
    }
    if (k % 20 === 0) console.log(`${kind}: step points 1..${k} sound`);
  }
  console.log(`${kind}: ${steps} step kills sound (${((performance.now() - t1) / 1000).toFixed(1)} s)`);
  return kills + steps;
}

let total = 0;
try {
  for (const kind of ["dict", "list", "shareableList"] as const) total += await soak(kind);
} catch (e) {
  console.error("UNSOUND:", e);
  process.exit(1);
}
console.log(`killed_writer soak: ${total} kills, every state sound`);
process.exit(0);
