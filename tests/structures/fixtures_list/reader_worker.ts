/**
 * Worker: reads a list that a writer fills with the integers 0, 1, 2, … in
 * order, until word 1 of `flags` is set (it announces itself in word 0
 * first). Every read must see a valid prefix: the length never shrinks,
 * item k is k, and a slice is a run of consecutive integers. Returns how
 * many reads it made, how many of them began and ended while a writer held
 * the list's lock (readers never wait for it), and the longest time between
 * two completed reads.
 */
import { type List, ListEngine } from "../../../structures/list.ts";

export interface ReaderReport {
  reads: number;
  /** Reads that began and ended while a writer held the lock. */
  underWrite: number;
  maxGapMs: number;
  lastLength: number;
}

export default function (list: List<number>, flags: SharedArrayBuffer, seed: number): ReaderReport {
  const f = new Int32Array(flags);
  Atomics.add(f, 0, 1);
  Atomics.notify(f, 0);
  let x = seed | 1;
  const rand = (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  let held = false;
  const engine = new ListEngine(list.handle.buffer as SharedArrayBuffer);
  let reads = 0, underWrite = 0, maxGapMs = 0, last = performance.now(), prev = 0;
  const gap = () => {
    const now = performance.now();
    if (engine.writing() && held) underWrite++;
    if (now - last > maxGapMs) maxGapMs = now - last;
    last = now;
    reads++;
  };
  for (let done = false; !done;) {
    done = Atomics.load(f, 1) === 1; // one more round after the writer finished
    held = engine.writing();
    const n = list.lengthSync();
    gap();
    if (n < prev) throw new Error(`length went down from ${prev} to ${n}`);
    prev = n;
    if (n === 0) continue;
    held = engine.writing();
    const top = list.getSync(n - 1);
    gap();
    if (top !== n - 1) throw new Error(`item ${n - 1} is ${top}`);
    const k = rand(n);
    held = engine.writing();
    const v = list.getSync(k);
    gap();
    if (v !== k) throw new Error(`item ${k} is ${v}`);
    const a = rand(n);
    held = engine.writing();
    const s = list.sliceSync(a, a + 64);
    gap();
    for (let j = 0; j < s.length; j++) if (s[j] !== a + j) throw new Error(`slice at ${a}: item ${j} is ${s[j]}`);
    if (s.length < Math.min(64, n - a)) throw new Error(`slice at ${a} of a list of ${n} has ${s.length} items`);
    held = engine.writing();
    const back = list.sliceSync(-3);
    gap();
    const m = back.length;
    if (m === 0 || m > 3 || back[m - 1] < n - 1) {
      throw new Error(`tail ${JSON.stringify(back)} of a list of at least ${n}`);
    }
    for (let j = 1; j < m; j++) if (back[j] !== back[j - 1] + 1) throw new Error(`tail ${JSON.stringify(back)}`);
  }
  return { reads, underWrite, maxGapMs, lastLength: prev };
}
