/**
 * The shared-buffer transport: every structure lives in SharedArrayBuffers
 * and runs in the caller's thread, between the threads of one process.
 * No server, no copies beyond encoding, synchronous twins for every call.
 * @module
 */
import type { Backend, Handle } from "../core/backend.ts";
import type { StructureSpec } from "../core/structure.ts";
import { EngineHost } from "./_host.ts";
import { adoptRegistry, registryBuffer } from "./_runtime/threads.ts";
import type { StartOptions, TransportImpl, TransportProvider } from "./transport.ts";

/** The `via` of shared-buffer handles. */
export const VIA = "shared-buffer";

/**
 * The shared-buffer transport of a manager. Names resolve within the thread
 * that started the manager; structures reach other threads as handles
 * (spawn's `args`, or `postMessage(structure.handle)` and `attach`).
 */
export class SharedBufferTransport implements TransportImpl {
  readonly url = "shared-buffer:";
  readonly address = undefined;
  readonly authkey = undefined;
  readonly #host: EngineHost;

  constructor(options: StartOptions) {
    this.#host = new EngineHost(options.kinds);
  }

  /**
   * A named structure is kept by the host until {@linkcode delete} or
   * shutdown; an anonymous one only by the clients that hold its memory, so
   * the garbage collector frees it when no thread holds it (SharedMemory and
   * ShareableList blocks excepted: the host keeps them until shutdown, as it
   * unlinks their names then).
   */
  open(kind: string, name: string | undefined, params: readonly unknown[]): Promise<Handle> {
    try {
      const { spec, engine } = name === undefined
        ? this.#host.make(kind, params)
        : this.#host.entry(this.#host.open(kind, name, params).id);
      return Promise.resolve({ ...spec.share(engine), kind, via: VIA, registry: registryBuffer() });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Forgets the name: its structure lives on in the threads that hold it. */
  delete(name: string): Promise<boolean> {
    try {
      return Promise.resolve(this.#host.delete(name));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** How many structures the host keeps (named ones, and SharedMemory blocks). */
  get size(): number {
    return this.#host.size;
  }

  close(): Promise<void> {
    this.#host.clear();
    return Promise.resolve();
  }
}

/** The shared-buffer provider: engines in the caller's thread. */
export const provider: TransportProvider = {
  schemes: ["shared-buffer"],
  via: VIA,
  start: (_config, options) => Promise.resolve(new SharedBufferTransport(options)),
  backend<E>(handle: Handle, spec: StructureSpec<E>): Backend<E> {
    adoptRegistry(handle.registry as SharedArrayBuffer | undefined);
    return { engine: spec.open(handle) };
  },
};
