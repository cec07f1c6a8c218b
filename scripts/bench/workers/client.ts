/**
 * Issue A, procshare side: a client in a worker thread (started by `spawn`)
 * calling a Dict, a Queue and a Lock one operation at a time, as a user
 * would: the async Promise API on any transport, and on the shared buffer
 * also the Sync twins. Returns one Sample per operation.
 */
import type { Dict, Lock, Queue } from "../../../mod.ts";
import { type BenchOptions, type Sample, timeAsync, timeSync } from "../_harness.ts";
import { KEY_MASK, KEY_RING } from "./_keys.ts";

export default async function client(
  dict: Dict<string, number>,
  queue: Queue<number>,
  lock: Lock,
  sync: boolean,
  o: BenchOptions,
): Promise<Record<string, Sample>> {
  const out: Record<string, Sample> = {};
  let i = 0;
  out.get = await timeAsync(async (n) => {
    let s = 0;
    for (let j = 0; j < n; j++) s += (await dict.get(KEY_RING[i++ & KEY_MASK])) ?? 0;
    return s;
  }, o);
  out.set = await timeAsync(async (n) => {
    for (let j = 0; j < n; j++, i++) await dict.set(KEY_RING[i & KEY_MASK], i);
    return n;
  }, o);
  out.queuePair = await timeAsync(async (n) => {
    let s = 0;
    for (let j = 0; j < n; j++) {
      await queue.put(j);
      s += await queue.get();
    }
    return s;
  }, o);
  out.lockPair = await timeAsync(async (n) => {
    for (let j = 0; j < n; j++) {
      const permit = await lock.acquire();
      await permit.release();
    }
    return n;
  }, o);
  if (!sync) return out;
  out.getSync = timeSync((n) => {
    let s = 0;
    for (let j = 0; j < n; j++) s += dict.getSync(KEY_RING[j & KEY_MASK]) ?? 0;
    return s;
  }, o);
  out.setSync = timeSync((n) => {
    for (let j = 0; j < n; j++, i++) dict.setSync(KEY_RING[i & KEY_MASK], i);
    return n;
  }, o);
  out.queuePairSync = timeSync((n) => {
    let s = 0;
    for (let j = 0; j < n; j++) {
      queue.putSync(j);
      s += queue.getSync();
    }
    return s;
  }, o);
  out.lockPairSync = timeSync((n) => {
    for (let j = 0; j < n; j++) {
      lock.acquireSync();
      lock.releaseSync();
    }
    return n;
  }, o);
  return out;
}
