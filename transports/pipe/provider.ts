/**
 * The `pipe:` transport: a manager server with no socket at all. Its host
 * runs in the process that called `Manager.start({ transport: "pipe:" })`;
 * that process's own calls go over an in-memory stream, and each process
 * child started by `spawn(…, { as: "process" })` or a process `Pool` reaches
 * it over a descriptor it inherited (see `_hub.ts`). The server connection
 * handler and the client are the socket transport's (`serveConnection`,
 * `connectOver`), run over those streams.
 *
 * No socket file, no address, no authkey to hand on: only the child that
 * inherited a descriptor holds its other end, which is the access control.
 * The connection still opens with the socket transport's handshake, on a
 * fixed key ({@linkcode PIPE_AUTHKEY}) that proves nothing; it costs one round
 * trip per child.
 *
 * Who can attach a `pipe:` handle: the manager's thread, and the worker
 * threads and process children it started (`spawn`, `Pool`) while the
 * manager ran; a thread gets a `MessagePort` instead of a descriptor. Anyone
 * else — a thread started otherwise, a grandchild, an unrelated process
 * (`Manager.connect("pipe:")`) — gets `TransportError("Unsupported")`
 * saying so.
 *
 * @example A dict shared with a child process
 * ```ts
 * import { Manager, spawn } from "../../mod.ts";
 * await using m = await Manager.start({ transport: "pipe:" });
 * const d = await m.dict<string, number>();
 * // count.ts: export default async (d) => await d.set("child", 1);
 * await spawn(new URL("./count.ts", import.meta.url), { args: [d], as: "process" }).join();
 * console.log(await d.get("child")); // 1
 * ```
 * @module
 */
import { isMainThread } from "node:worker_threads";
import type { Backend, Handle } from "../../core/backend.ts";
import { TransportError } from "../../errors.ts";
import type { Duplex } from "../_duplex.ts";
import { checkMaxFrameBytes } from "../_frame.ts";
import { EngineHost, HOST_ID } from "../_host.ts";
import { openInherited } from "../_runtime/inherited.ts";
import { connectOver, type SocketClient, structureRemote } from "../socket/client.ts";
import { serveConnection, type ServedConnection } from "../socket/server.ts";
import type { StartOptions, TransportImpl, TransportProvider } from "../transport.ts";
import {
  HELLO,
  inheritedChannel,
  inheritedPort,
  localServer,
  type PipeServer,
  PortDuplex,
  registerServer,
} from "./_hub.ts";

/** The `via` of pipe handles. */
export const VIA = "pipe";

/**
 * The handshake key of every pipe connection: public, as the pipe is private
 * (only the child that inherited it holds its other end).
 */
export const PIPE_AUTHKEY: Uint8Array = new TextEncoder().encode("procshare pipe: the descriptor is the key");

/** The handle of a structure of a `pipe:` manager. */
export interface PipeHandle extends Handle {
  readonly via: "pipe";
  /** The instance id of the manager's host. */
  readonly instance: string;
  readonly id: number;
  /** The manager's `maxFrameBytes` when it is not the default. */
  readonly maxFrameBytes?: number;
}

type Listener = (arg?: never) => void;

/**
 * One end of an in-memory stream pair: what a `pipe:` manager's own thread
 * talks to its host over. Writes arrive at the peer a microtask later, as
 * fresh buffers (frame payloads are views of them).
 */
class MemoryEnd implements Duplex {
  peer!: MemoryEnd;
  #closed = false;
  readonly #listeners: Record<string, Listener[]> = { data: [], close: [], error: [] };

  static pair(): [MemoryEnd, MemoryEnd] {
    const a = new MemoryEnd();
    const b = new MemoryEnd();
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  write(bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    const copy = bytes.slice();
    queueMicrotask(() => this.peer.#emit("data", copy));
    return true;
  }

  end(): void {
    queueMicrotask(() => this.destroy());
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    queueMicrotask(() => this.#emit("close"));
    this.peer.destroy();
  }

  on(event: "data" | "close" | "error", listener: (arg: never) => void): this {
    this.#listeners[event].push(listener as Listener);
    return this;
  }

  #emit(event: string, arg?: unknown): void {
    if (event === "data" && this.#closed) return;
    for (const l of this.#listeners[event]) (l as (a: unknown) => void)(arg);
  }
}

/** A running `pipe:` manager: its host, the connections it serves, and its own client. */
class PipeTransport implements TransportImpl, PipeServer {
  readonly url = "pipe:";
  readonly address = undefined;
  readonly authkey = undefined;
  readonly host: EngineHost;
  client: SocketClient | undefined;
  readonly #options: StartOptions;
  readonly #maxFrameBytes: number;
  readonly #connections = new Set<ServedConnection>();
  readonly #unregister: () => void;
  #closed = false;

  constructor(options: StartOptions, maxFrameBytes: number) {
    this.#options = options;
    this.#maxFrameBytes = maxFrameBytes;
    const kinds = options.serverKinds ? { ...options.kinds, ...options.serverKinds } : options.kinds;
    this.host = new EngineHost(kinds, { maxAnonymous: options.maxAnonymous });
    const host = this.host;
    // a handle of this manager's own structure given as a parameter (a Condition's Lock) opens its memory
    host.ownHandles((h) => h.via === VIA && h.instance === host.instance ? h.id as number : undefined);
    this.#unregister = registerServer(this);
  }

  get instance(): string {
    return this.host.instance;
  }

  /** Serves the manager protocol on `io` until it closes (a child's channel, or this thread's own). */
  serve(io: Duplex): void {
    if (this.#closed) {
      io.destroy();
      return;
    }
    const c: ServedConnection = serveConnection(io, {
      authkey: PIPE_AUTHKEY,
      host: this.host,
      maxFrameBytes: this.#maxFrameBytes,
      maxPendingReplyBytes: this.#options.maxPendingReplyBytes,
      frameTimeoutMs: this.#options.frameTimeoutMs,
      onClose: () => this.#connections.delete(c),
    });
    this.#connections.add(c);
  }

  async open(kind: string, name: string | undefined, params: readonly unknown[]): Promise<Handle> {
    const { id } = await this.client!.open(kind, name ?? null, params);
    const h: PipeHandle = { kind, via: VIA, instance: this.instance, id };
    return this.#maxFrameBytes === DEFAULT_MAX ? h : { ...h, maxFrameBytes: this.#maxFrameBytes };
  }

  async delete(name: string): Promise<boolean> {
    return await this.client!.call(HOST_ID, "delete", [name]) === true;
  }

  release(handle: Handle): void {
    const id = (handle as PipeHandle).id;
    const retained = retaining.get(handle);
    if (retained === undefined) this.client?.release(id);
    else retained.then(() => this.client?.release(id));
  }

  get size(): number {
    return this.host.size;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unregister();
    await this.client?.close();
    for (const c of this.#connections) c.destroy();
    this.#connections.clear();
    this.host.clear();
  }
}

const DEFAULT_MAX = checkMaxFrameBytes(undefined);
const nothing = (): void => {};
/** The retain an attach sent, by handle: a reference handed over is given back once the new one is taken. */
const retaining = new WeakMap<Handle, Promise<void>>();

/** This process's clients over inherited channels, by manager instance. */
const inheritedClients = new Map<string, Promise<SocketClient>>();

/** The client that reaches the `pipe:` manager `instance` from this thread, or a typed error. */
function clientOf(h: PipeHandle): Promise<SocketClient> {
  const local = localServer(h.instance);
  if (local !== undefined) return Promise.resolve((local as PipeTransport).client!);
  const cached = inheritedClients.get(h.instance);
  if (cached !== undefined) return cached;
  const port = inheritedPort(h.instance);
  const fd = port === undefined && isMainThread ? inheritedChannel(h.instance) : undefined;
  if (port === undefined && fd === undefined) {
    return Promise.reject(
      new TransportError(
        "Unsupported",
        `Cannot attach ${h.kind} of a pipe: manager as only its own thread and the threads and processes it spawns reach it (use a unix: or tcp: manager to share with others): received ${
          isMainThread ? "a process it did not spawn" : "a thread it did not spawn"
        }`,
      ),
    );
  }
  const io = port !== undefined ? new PortDuplex(port) : openInherited(fd!);
  io.write(new Uint8Array([HELLO]));
  const promise = connectOver(io, "pipe:", { authkey: PIPE_AUTHKEY, maxFrameBytes: h.maxFrameBytes });
  inheritedClients.set(h.instance, promise);
  // the descriptor is used once: a closed channel stays closed (its client fails every call with Closed)
  return promise;
}

/** The pipe provider: a manager server in this process, reached by its own thread and the workers it spawns. */
export const provider: TransportProvider = {
  schemes: ["pipe"],
  via: VIA,
  async start(_config, options) {
    const maxFrameBytes = checkMaxFrameBytes(options.maxFrameBytes);
    const transport = new PipeTransport(options, maxFrameBytes);
    const [serverEnd, clientEnd] = MemoryEnd.pair();
    transport.serve(serverEnd);
    try {
      transport.client = await connectOver(clientEnd, "pipe:", { authkey: PIPE_AUTHKEY, maxFrameBytes });
    } catch (e) {
      await transport.close().catch(nothing);
      throw e;
    }
    return transport;
  },
  connect() {
    return Promise.reject(
      new TransportError(
        "Unsupported",
        `Cannot connect to a pipe: manager as only the threads and process children it spawns reach it (start it with unix: or tcp: to connect from other processes): received pipe:`,
      ),
    );
  },
  async backend<E>(handle: Handle): Promise<Backend<E>> {
    const s = handle as PipeHandle;
    const client = await clientOf(s);
    retaining.set(handle, client.retain(s.id).catch(nothing));
    return { remote: structureRemote(client, s.id) };
  },
};
