/**
 * Tasks of piscina in scripts/bench/pool.ts: the same `x * x` as
 * `pool_square.ts`, one item a task (`default`) or a chunk of items a task
 * (`chunk`, piscina having no chunking of its own).
 */
export default function square(x: number): number {
  return x * x;
}

/** One task for a whole chunk: the squares of `xs`, in order. */
export function chunk(xs: readonly number[]): number[] {
  const out = new Array<number>(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = xs[i] * xs[i];
  return out;
}
