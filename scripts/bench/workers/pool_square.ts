/** Task of scripts/bench/pool.ts: as trivial as Python's `def f(x): return x * x`. */
export default function square(x: number): number {
  return x * x;
}
