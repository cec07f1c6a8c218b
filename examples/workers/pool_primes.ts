/** Worker of examples/pool_progress.ts: counts the primes in [lo, hi) by trial division. */
export default function countPrimes([lo, hi]: readonly [number, number]): number {
  let count = 0;
  for (let n = Math.max(lo, 2); n < hi; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}
