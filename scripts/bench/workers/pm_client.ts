/**
 * Issue A, baseline (a): the "funnel through an owner" pattern. The main
 * thread owns a Map, an array used as a FIFO and a lock flag; this worker
 * reaches them by postMessage request/response over a MessagePort, one
 * request in flight at a time, and measures the same operations as
 * client.ts. The owner's side is `serveOwner` in main.ts.
 */
import type { MessagePort } from "node:worker_threads";
import { type BenchOptions, type Sample, timeAsync } from "../_harness.ts";
import { KEY_MASK, KEY_RING } from "./_keys.ts";

/** A request to the owner; the reply is the operation's result. */
export type OwnerRequest =
  | { readonly op: "get"; readonly k: string }
  | { readonly op: "set"; readonly k: string; readonly v: number }
  | { readonly op: "put"; readonly v: number }
  | { readonly op: "take" }
  | { readonly op: "acquire" }
  | { readonly op: "release" };

export default async function pmClient(port: MessagePort, o: BenchOptions): Promise<Record<string, Sample>> {
  let pending: (v: unknown) => void = () => {};
  port.on("message", (m: unknown) => pending(m));
  const call = (req: OwnerRequest) =>
    new Promise<unknown>((resolve) => {
      pending = resolve;
      port.postMessage(req);
    });
  const out: Record<string, Sample> = {};
  let i = 0;
  out.get = await timeAsync(async (n) => {
    let s = 0;
    for (let j = 0; j < n; j++) s += ((await call({ op: "get", k: KEY_RING[i++ & KEY_MASK] })) as number) ?? 0;
    return s;
  }, o);
  out.set = await timeAsync(async (n) => {
    for (let j = 0; j < n; j++, i++) await call({ op: "set", k: KEY_RING[i & KEY_MASK], v: i });
    return n;
  }, o);
  out.queuePair = await timeAsync(async (n) => {
    let s = 0;
    for (let j = 0; j < n; j++) {
      await call({ op: "put", v: j });
      s += (await call({ op: "take" })) as number;
    }
    return s;
  }, o);
  out.lockPair = await timeAsync(async (n) => {
    for (let j = 0; j < n; j++) {
      await call({ op: "acquire" });
      await call({ op: "release" });
    }
    return n;
  }, o);
  port.close();
  return out;
}
