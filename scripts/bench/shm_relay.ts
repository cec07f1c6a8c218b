/**
 * Async waits over `shm:` between two OS processes (issue 9, acceptance 3):
 * hops/s of a ping-pong through two Semaphores laid out in `/dev/shm`
 * regions, each side `await sem.acquire()` (the relay thread of
 * transports/shm/_relay.ts wakes it), beside the same ping-pong with
 * `acquireSync` (blocking futex waits: the baseline, measured in the same
 * run) and a ping-pong of bare `waitAsync` on one word (the relay alone,
 * without the engine). Not a test: it prints figures and their ratio.
 *
 * ```sh
 * node --import tsx scripts/bench/shm_relay.ts [--rounds N] [--reps N]
 * npx deno run -A scripts/bench/shm_relay.ts
 * npx bun scripts/bench/shm_relay.ts
 * ```
 *
 * The parent creates the regions and spawns one child of its own runtime
 * (this file, `child <names…>`); for every case both arrive at a start gate
 * (a futex word), then side 0 acquires P and releases Q, side 1 acquires Q
 * and releases P, `rounds` times each. A hop is one hand-off from one
 * process to the other (2 × rounds per repetition). Each case runs `reps`
 * times after a warm-up repetition; the figure is the median.
 * @module
 */
import { spawn } from "node:child_process";
import * as os from "node:os";
import process from "node:process";
import { loadFfi } from "../../transports/shm/_ffi.ts";
import { ShmRegion } from "../../transports/shm/_region.ts";
import { asyncWaiter, DEFAULT_SPIN_MICROS, setSpinMicros, waitAsync } from "../../transports/shm/_relay.ts";
import { SemaphoreEngine } from "../../sync/semaphore.ts";
import { setThreadId } from "../../transports/_runtime/threads.ts";
import { runtime, runtimeCommand } from "../../transports/_runtime/runtime.ts";

/** Words of region P past the Semaphore's own: two start gates per repetition, from GATE on. */
const GATE = 512;
/** The word the bare `waitAsync` ping-pong moves (in region P). */
const WORD = 1000;
const REGION_BYTES = 8192;
/** A blocking wait that takes this long is a lost wake-up. */
const SLICE_MS = 5_000;

type How = "sync" | "async" | "async-other-spin" | "word";
const CASES: readonly How[] = ["sync", "async", "async-other-spin", "word"];
/** The spin before parking of the second async case: none where the default spins, 20 µs where it does not. */
const OTHER_SPIN_US = DEFAULT_SPIN_MICROS > 0 ? 0 : 20;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const ffi = await loadFfi();
const bufferOf = (r: ShmRegion) => r.buffer as unknown as SharedArrayBuffer;

/** Arrives at gate `g` of region `r`, then blocks until 2 have arrived. */
function gate(r: ShmRegion, g: number): void {
  const i32 = r.i32;
  if (Atomics.add(i32, GATE + g, 1) + 1 === 2) r.notify(GATE + g);
  for (let v = Atomics.load(i32, GATE + g); v < 2; v = Atomics.load(i32, GATE + g)) {
    if (r.wait(GATE + g, v, SLICE_MS) === "timeout") throw new Error("the start gate timed out");
  }
}

/** One side of one repetition of a case; returns its milliseconds. */
async function side(how: How, s: 0 | 1, p: ShmRegion, q: ShmRegion, rounds: number, g: number): Promise<number> {
  const id = 9001 + s;
  // once both are done with the last repetition: a fresh pair, P holding 1 permit, Q none, the word 0
  gate(p, g);
  if (s === 0) {
    p.u8.set(new Uint8Array(SemaphoreEngine.create(1, false, 4).buffer));
    q.u8.set(new Uint8Array(SemaphoreEngine.create(0, false, 4).buffer));
    Atomics.store(p.i32, WORD, 0);
  }
  gate(p, g + 1);
  const [mine, theirs] = s === 0
    ? [new SemaphoreEngine(bufferOf(p)), new SemaphoreEngine(bufferOf(q))]
    : [new SemaphoreEngine(bufferOf(q)), new SemaphoreEngine(bufferOf(p))];
  const i32 = p.i32;
  setSpinMicros(how === "async-other-spin" ? OTHER_SPIN_US : DEFAULT_SPIN_MICROS);
  const t0 = performance.now();
  if (how === "word") {
    // side 0 moves the word from 2k to 2k+1, side 1 from 2k+1 to 2k+2
    for (let k = 0; k < rounds; k++) {
      const want = 2 * k + s;
      for (let v = Atomics.load(i32, WORD); v !== want; v = Atomics.load(i32, WORD)) {
        if (await waitAsync(p, WORD, v, SLICE_MS) === "timeout") throw new Error("a wake-up was lost");
      }
      Atomics.store(i32, WORD, want + 1);
      p.notify(WORD);
    }
  } else {
    for (let k = 0; k < rounds; k++) {
      // a timeout (a lost wake-up) throws a LockError
      if (how === "sync") mine.acquireSync(id, { timeout: SLICE_MS });
      else await mine.acquire(id, { timeout: SLICE_MS });
      theirs.release(id);
    }
  }
  return performance.now() - t0;
}

/** The relay's counters of this process, per hand-off received, since `before`. */
type Rounds = { waits: number; mismatches: number; reports: number };
async function relayRounds(): Promise<Rounds> {
  return { ...(await asyncWaiter()).relayRounds };
}

/**
 * Runs every case's repetitions on side `s`; returns each repetition's
 * milliseconds by case, and the relay's counters per hand-off this side received.
 */
async function runSide(s: 0 | 1, p: ShmRegion, q: ShmRegion, rounds: number, reps: number) {
  setThreadId(9001 + s);
  const out: Record<string, number[]> = {};
  const counters: Record<string, Rounds> = {};
  let g = 0;
  for (const how of CASES) {
    out[how] = [];
    const before = await relayRounds();
    for (let r = 0; r <= reps; r++) {
      const ms = await side(how, s, p, q, how === "sync" ? rounds * 4 : rounds, g);
      g += 2;
      if (r > 0) out[how].push(ms); // repetition 0 warms up
    }
    const after = await relayRounds();
    const n = rounds * (reps + 1);
    counters[how] = {
      waits: (after.waits - before.waits) / n,
      mismatches: (after.mismatches - before.mismatches) / n,
      reports: (after.reports - before.reports) / n,
    };
  }
  return { ms: out, counters };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];

if (process.argv[2] === "child") {
  const [pName, qName, rounds, reps] = process.argv.slice(3);
  using p = ShmRegion.open(ffi, pName);
  using q = ShmRegion.open(ffi, qName);
  console.log(JSON.stringify(await runSide(1, p, q, Number(rounds), Number(reps))));
  // the relay, idle now, does not hold the process: it ends by itself
} else {
  const rounds = arg("rounds", 20_000);
  const reps = arg("reps", 3);
  using p = ShmRegion.create(ffi, { maxBytes: REGION_BYTES, initialBytes: REGION_BYTES });
  using q = ShmRegion.create(ffi, { maxBytes: REGION_BYTES, initialBytes: REGION_BYTES });
  try {
    // the gates must start at 0 before the child arrives at its first
    p.u8.fill(0);
    const { command, args } = runtimeCommand(new URL(import.meta.url));
    const child = spawn(command, [...args, "child", p.name, q.name, String(rounds), String(reps)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d) => out += d);
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    const mine = await runSide(0, p, q, rounds, reps);
    const code = await exited;
    if (code !== 0) throw new Error(`Cannot finish the benchmark as the child exited with ${code}: ${out}`);
    const rate = (how: How) => {
      const n = 2 * (how === "sync" ? rounds * 4 : rounds);
      return median(mine.ms[how].map((ms) => n / (ms / 1000)));
    };
    const sync = rate("sync");
    const load = os.loadavg()[0].toFixed(1);
    console.log(`shm relay ping-pong between 2 ${runtime} processes (load ${load} on ${os.cpus().length} CPUs)`);
    console.log(`  ${"Semaphore acquireSync/release (baseline)".padEnd(44)} ${Math.round(sync)} hops/s`);
    for (
      const [how, label] of [
        ["async", `Semaphore await acquire/release (${DEFAULT_SPIN_MICROS} µs spin)`],
        ["async-other-spin", `the same, ${OTHER_SPIN_US} µs spin before parking`],
        ["word", "bare waitAsync on one word"],
      ]
    ) {
      const r = rate(how as How);
      const c = mine.counters[how];
      console.log(
        `  ${label.padEnd(44)} ${Math.round(r)} hops/s  (${(r / sync).toFixed(2)}× sync); per hand-off received: ` +
          `${c.waits.toFixed(2)} futex_waitv, ${c.mismatches.toFixed(2)} EAGAIN, ${c.reports.toFixed(2)} reports`,
      );
    }
  } finally {
    p.unlink();
    q.unlink();
  }
}
