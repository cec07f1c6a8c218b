/**
 * Issue B6: one of two reader threads. Each round of `schedule` says what
 * to read — the shared dict with `getSync` ("dict"); for the baselines a
 * Map of this thread's own with the same keys ("map": the machine's own
 * scaling of pure reads), or `Atomics.load` of one word every reader shares
 * ("atomics": what a dict read does twice, on its sequence word) — and how
 * many readers take part; a reader whose
 * `index` is not below that count sits the round out (asleep at the next
 * barrier). Interleaving 1- and 2-reader rounds exposes both to the same
 * load on the machine.
 */
import type { Dict } from "../../../mod.ts";
import { arrive, consume, type RoundResult, stopped } from "../_harness.ts";
import { KEY_MASK, KEY_RING, KEYS } from "./_keys.ts";

/** One round of a reader schedule. */
export interface ReaderRound {
  readonly mode: "dict" | "map" | "atomics";
  /** Readers taking part: the ones whose index is below it. */
  readonly active: number;
}

const BATCH = 1024;

export default function reader(
  dict: Dict<string, number>,
  word: Int32Array,
  ctl: Int32Array,
  index: number,
  schedule: readonly ReaderRound[],
): RoundResult[] {
  const map = new Map(KEYS.map((k, i) => [k, i]));
  const out: RoundResult[] = [];
  for (let round = 1; round <= schedule.length; round++) {
    const { mode, active } = schedule[round - 1];
    arrive(ctl, round);
    if (index >= active) {
      out.push({ count: 0, ms: 0 });
      continue;
    }
    const t0 = performance.now();
    let n = 0, s = 0;
    if (mode === "dict") {
      while (!stopped(ctl, round)) {
        for (let j = 0; j < BATCH; j++) s += dict.getSync(KEY_RING[j & KEY_MASK]) ?? 0;
        n += BATCH;
      }
    } else if (mode === "map") {
      while (!stopped(ctl, round)) {
        for (let j = 0; j < BATCH; j++) s += map.get(KEY_RING[j & KEY_MASK]) ?? 0;
        n += BATCH;
      }
    } else {
      while (!stopped(ctl, round)) {
        for (let j = 0; j < BATCH; j++) s += Atomics.load(word, 0);
        n += BATCH;
      }
    }
    consume(s);
    out.push({ count: n, ms: performance.now() - t0 });
  }
  return out;
}
