/**
 * The shared-buffer transport: every structure lives in SharedArrayBuffers
 * and runs in the caller's thread, between the threads of one process.
 * No server, no copies beyond encoding, synchronous twins for every call.
 * @module
 */
import { type Handle, registerAttacher, structureOf } from "./_attach.ts";
import { EngineHost, kindOf } from "./_host.ts";
import type { TransportImpl } from "./transport.ts";
// every structure kind must be known wherever a handle may be attached
import "../structures/mod.ts";
import "../sync/mod.ts";

/**
 * The shared-buffer transport of a manager. Names resolve within the thread
 * that started the manager; structures reach other threads as handles
 * (spawn's `args`, or `postMessage(structure.handle)` and `attach`).
 *
 * @example
 * ```ts
 * import { SharedBufferTransport } from "./shared_buffer.ts";
 * const t = new SharedBufferTransport();
 * const handle = await t.open("lock", "l", []);
 * console.log(handle.kind, handle.via); // lock shared-buffer
 * ```
 */
export class SharedBufferTransport implements TransportImpl {
  readonly url = "shared-buffer:";
  readonly address = undefined;
  readonly authkey = undefined;
  readonly #host = new EngineHost();

  open(kind: string, name: string | undefined, params: readonly unknown[]): Promise<Handle> {
    try {
      const { id } = this.#host.open(kind, name, params);
      return Promise.resolve(kindOf(kind).localHandle(this.#host.entry(id).engine) as Handle);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  close(): Promise<void> {
    this.#host.clear();
    return Promise.resolve();
  }
}

registerAttacher("shared-buffer", (h) => structureOf(h.kind).fromLocal(h));
