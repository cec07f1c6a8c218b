/**
 * A channel to every thread of this process that keeps no process alive
 * unless asked to: `node:worker_threads`' `BroadcastChannel`, whose
 * `ref`/`unref` Node, Deno and Bun all have (Deno's global one has neither,
 * and keeps a program from exiting).
 * @module
 */
import { BroadcastChannel as NodeBroadcastChannel } from "node:worker_threads";

/** A process-wide channel: post to every thread that opened the same name; `ref` while an answer is awaited. */
export interface ProcessChannel {
  postMessage(message: unknown): void;
  onmessage: ((ev: { readonly data: unknown }) => void) | null;
  ref(): void;
  unref(): void;
}

/**
 * Opens the channel `name`, unreferenced.
 *
 * @example Telling the other threads
 * ```ts
 * import { processChannel } from "./broadcast.ts";
 * const c = processChannel("procshare:doc");
 * c.postMessage({ hello: 1 }); // every other thread listening on "procshare:doc" gets it
 * ```
 */
export function processChannel(name: string): ProcessChannel {
  const c = new NodeBroadcastChannel(name) as unknown as ProcessChannel;
  c.unref();
  return c;
}
