/**
 * Where the `pipe:` transport meets `spawn` and `Pool`: the `pipe:` managers
 * running in this thread, and the channels a child process gets to them.
 * Light on purpose (no server, no client): `process/spawn.ts` and
 * `process/pool.ts` import it whether or not a program uses `pipe:`.
 *
 * Every process child started while `pipe:` managers run gets one extra
 * stdio descriptor per manager (3, 4, …: a socketpair the runtime makes) and
 * the environment variable {@linkcode PIPE_ENV} telling which manager each
 * one reaches (`instance@fd,…`; empty otherwise, so that a grandchild never
 * takes its parent's descriptors for its own). The child speaks first, one
 * {@linkcode HELLO} byte when it first attaches a structure of that manager;
 * only then does the parent serve the manager protocol on the channel, so a
 * child that never attaches costs the parent an idle descriptor and nothing
 * else (no handshake timer).
 *
 * A worker thread started by `spawn` or a thread `Pool` gets the same, over
 * a `MessagePort` per manager in its `workerData` (key {@linkcode PIPE_PORTS}),
 * and its connections end when it exits.
 *
 * @example What a child gets while a `pipe:` manager runs
 * ```ts
 * import { childChannels } from "./_hub.ts";
 * const channels = childChannels();
 * console.log(channels.stdio.length, channels.env); // 0 { PROCSHARE_PIPE: "" } with no pipe: manager
 * ```
 * @module
 */
import { isMainThread, MessageChannel, type MessagePort, workerData } from "node:worker_threads";
import type { Duplex } from "../_duplex.ts";

/** The environment variable naming a child's channels: `instance@fd,instance@fd`. */
export const PIPE_ENV = "PROCSHARE_PIPE";
/** The first byte a child sends on a channel: "serve me now". */
export const HELLO = 0x70;

/** The `workerData` key of a worker thread's ports, by manager instance. */
export const PIPE_PORTS = "procsharePipes";

/** A `pipe:` manager of this thread, as the hub sees it. */
export interface PipeServer {
  /** Its host's instance id (handles carry it). */
  readonly instance: string;
  /** Serves the manager protocol on a child's channel, after its hello. */
  serve(io: Duplex): void;
}

const servers = new Set<PipeServer>();

/**
 * Lists `server` so that process children started from now on get a channel
 * to it; the function returned takes it off the list.
 */
export function registerServer(server: PipeServer): () => void {
  servers.add(server);
  return () => servers.delete(server);
}

/** The `pipe:` manager of this thread with host instance `instance`, if any. */
export function localServer(instance: string): PipeServer | undefined {
  for (const s of servers) if (s.instance === instance) return s;
  return undefined;
}

/**
 * What `spawn`/`Pool` add to a process child: `stdio` entries after the
 * first three, the environment, and `attach`, called with the child's
 * `stdio` once it is spawned.
 */
export interface ChildChannels {
  readonly stdio: readonly "pipe"[];
  readonly env: Readonly<Record<string, string>>;
  attach(stdio: readonly unknown[]): void;
}

/** The channels a process child started now gets: one per `pipe:` manager of this thread. */
export function childChannels(): ChildChannels {
  const list = [...servers];
  return {
    stdio: list.map(() => "pipe" as const),
    env: { [PIPE_ENV]: list.map((s, i) => `${s.instance}@${3 + i}`).join(",") },
    attach(stdio) {
      list.forEach((server, i) => {
        const io = stdio[3 + i] as (Duplex & { once(e: "data", l: (c: Uint8Array) => void): unknown }) | null;
        if (!io) return;
        // the child process keeps this one alive, or not (a Pool's unref): its channel must not
        io.unref?.();
        io.on("error", () => io.destroy());
        io.once("data", (chunk) => {
          if (chunk.length !== 1 || chunk[0] !== HELLO) {
            io.destroy();
            return;
          }
          server.serve(io);
        });
      });
    },
  };
}

let inherited: Map<string, number> | undefined;

/** The descriptor this process inherited to the `pipe:` manager `instance` of its parent, if any. */
export function inheritedChannel(instance: string): number | undefined {
  if (inherited === undefined) {
    inherited = new Map();
    for (const entry of (globalThis.process?.env?.[PIPE_ENV] ?? "").split(",")) {
      const at = entry.lastIndexOf("@");
      const fd = Number(entry.slice(at + 1));
      if (at > 0 && Number.isSafeInteger(fd) && fd >= 3) inherited.set(entry.slice(0, at), fd);
    }
  }
  return inherited.get(instance);
}

/**
 * A `MessagePort` as a byte stream: each write is posted as a fresh
 * `Uint8Array` (its buffer transferred), each message is one chunk.
 */
export class PortDuplex implements Duplex {
  readonly #port: MessagePort;
  #closed = false;
  readonly #onClose: Array<() => void> = [];

  constructor(port: MessagePort) {
    this.#port = port;
    port.on("close", () => this.destroy());
  }

  write(bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    const copy = bytes.slice();
    this.#port.postMessage(copy, [copy.buffer]);
    return true;
  }

  end(): void {
    this.destroy();
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#port.close();
    for (const f of this.#onClose.splice(0)) f();
  }

  on(event: "data", listener: (chunk: Uint8Array) => void): this;
  on(event: "close", listener: () => void): this;
  on(event: "error", listener: (error: Error) => void): this;
  on(event: "data" | "close" | "error", listener: (arg: never) => void): this {
    if (event === "close") this.#onClose.push(listener as () => void);
    else if (event === "data") {
      this.#port.on("message", (m: unknown) => {
        if (!this.#closed && m instanceof Uint8Array) (listener as (c: Uint8Array) => void)(m);
      });
    }
    return this;
  }

  ref(): void {
    this.#port.ref?.();
  }

  unref(): void {
    this.#port.unref?.();
  }
}

/**
 * What `spawn`/`Pool` give a worker thread: `workerData` entries, the ports
 * to transfer, and `release`, called when the thread has exited (its
 * connections end then: what it held is released).
 */
export interface ThreadChannels {
  readonly data: Readonly<Record<string, Record<string, MessagePort>>>;
  readonly transfer: readonly MessagePort[];
  release(): void;
}

/** The channels a worker thread started now gets: one port per `pipe:` manager of this thread. */
export function threadChannels(): ThreadChannels {
  const list = [...servers];
  if (list.length === 0) return { data: {}, transfer: [], release() {} };
  const ports: Record<string, MessagePort> = {};
  const ends: PortDuplex[] = [];
  for (const server of list) {
    const { port1, port2 } = new MessageChannel();
    ports[server.instance] = port2;
    const io = new PortDuplex(port1);
    io.unref(); // the thread keeps this process alive, not its channel
    ends.push(io);
    let first = true;
    io.on("data", (chunk: Uint8Array) => {
      if (!first) return;
      first = false;
      if (chunk.length !== 1 || chunk[0] !== HELLO) io.destroy();
      else server.serve(io);
    });
  }
  return {
    data: { [PIPE_PORTS]: ports },
    transfer: Object.values(ports),
    release: () => ends.forEach((io) => io.destroy()),
  };
}

/** The port this worker thread got to the `pipe:` manager `instance` of its parent thread, if any. */
export function inheritedPort(instance: string): MessagePort | undefined {
  if (isMainThread) return undefined;
  const ports = (workerData as Record<string, unknown> | null)?.[PIPE_PORTS] as Record<string, MessagePort> | undefined;
  const port = ports?.[instance];
  return port instanceof Object ? port : undefined;
}
