/**
 * Issue B5, second baseline (the floor under any lock): two workers pass a
 * turn word back and forth with raw Atomics, spinning briefly and then
 * sleeping in `Atomics.wait`, as procshare's kernel does. No library code.
 */
import { arrive, type RoundResult, stopped } from "../_harness.ts";

/** Word of `turn`: 0 the initiator's turn, 1 the responder's, -1 end of round. */
const T_TURN = 0;
/** Loads before sleeping, as SPINS in sync/_kernel.ts. */
const SPINS = 64;

function waitWhile(t: Int32Array, v: number): number {
  for (let i = 0; i < SPINS; i++) {
    const now = Atomics.load(t, T_TURN);
    if (now !== v) return now;
  }
  for (;;) {
    Atomics.wait(t, T_TURN, v);
    const now = Atomics.load(t, T_TURN);
    if (now !== v) return now;
  }
}

function pass(t: Int32Array, v: number): void {
  Atomics.store(t, T_TURN, v);
  Atomics.notify(t, T_TURN, 1);
}

export default function pingpong(turn: Int32Array, ctl: Int32Array, initiator: boolean, rounds: number): RoundResult[] {
  const out: RoundResult[] = [];
  for (let round = 1; round <= rounds; round++) {
    arrive(ctl, round);
    const t0 = performance.now();
    let trips = 0;
    if (initiator) {
      for (;;) {
        pass(turn, 1);
        waitWhile(turn, 1);
        trips++;
        if (stopped(ctl, round)) break;
      }
      pass(turn, -1);
    } else {
      for (;;) {
        if (waitWhile(turn, 0) === -1) break;
        pass(turn, 0);
      }
      Atomics.store(turn, T_TURN, 0); // ready for the next round, before arriving at its barrier
    }
    out.push({ count: 2 * trips, ms: performance.now() - t0 });
  }
  return out;
}
