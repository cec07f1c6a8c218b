/**
 * A manager server that is the whole of its process (issue 10, items 5 and
 * 6): what `Manager.start({ serve: "process" })` runs in its child and what
 * `procshare serve` runs. It is the socket server of `server.ts` over a host
 * that also answers `shutdown` (id `HOST_ID`), so that any client holding the
 * authkey can stop it, as any client of Python's manager server can; a server
 * started in-process by `Manager.start` does not answer it (its starter owns it).
 *
 * **Orphans**: {@linkcode ServingServer.orphan} arms the policy of a server
 * whose starter is gone without a shutdown (killed): it serves on while any
 * client is connected, and stops once none has been for `timeoutMs`.
 *
 * @example Serving until a client asks it to stop
 * ```ts
 * import { serve } from "./_serve.ts";
 * import { KINDS } from "../../kinds.ts";
 * const s = await serve({ address: "tcp://127.0.0.1:0", kinds: KINDS });
 * console.log(s.address.startsWith("tcp://127.0.0.1:")); // true
 * await s.close();
 * await s.closed;
 * ```
 * @module
 */
import type { Kinds } from "../../core/structure.ts";
import { type CallContext, EngineHost, HOST_ID } from "../_host.ts";
import { type ManagerServer, type ServerOptions, startServer } from "./server.ts";

/** The host operation (on id `HOST_ID`) that stops a served manager. */
export const SHUTDOWN_OP = "shutdown";

/** A host that answers {@linkcode SHUTDOWN_OP} by calling `onShutdown` once the reply is on its way. */
class ServingHost extends EngineHost {
  onShutdown: () => void = () => {};

  override call(id: number, op: string, args: readonly unknown[], ctx: CallContext): unknown {
    if (id === HOST_ID && op === SHUTDOWN_OP) {
      // after this turn: the reply is written first (it is flushed in a microtask)
      setTimeout(this.onShutdown, 0);
      return null;
    }
    return super.call(id, op, args, ctx);
  }
}

/**
 * Options of {@linkcode serve}: those of `startServer`, with the kinds to serve.
 *
 * @example
 * ```ts
 * import type { ServeOptions } from "./_serve.ts";
 * import { KINDS } from "../../kinds.ts";
 * const o: ServeOptions = { address: "unix:/tmp/app.sock", kinds: KINDS };
 * ```
 */
export interface ServeOptions extends Omit<ServerOptions, "host" | "kinds"> {
  /** The kinds served (the manager's `KINDS`). */
  readonly kinds: Kinds;
}

/**
 * A served manager: its address and authkey, how to stop it, and when it stopped.
 *
 * @example
 * ```ts
 * import type { ServingServer } from "./_serve.ts";
 * const report = (s: ServingServer) => s.closed.then(() => console.log("stopped", s.address));
 * ```
 */
export interface ServingServer {
  /** The bound address (`unix:/abs/path`, `tcp://127.0.0.1:41234`). */
  readonly address: string;
  /** The authkey clients present. */
  readonly authkey: Uint8Array;
  /** How many connections are open. */
  readonly connectionCount: number;
  /** Settles once the server has stopped (socket file removed, structures disposed of). Never rejects. */
  readonly closed: Promise<void>;
  /** Stops the server (idempotent); resolves as {@linkcode closed}. */
  close(): Promise<void>;
  /**
   * The starter is gone: from now on, stop once no client has been connected
   * for `timeoutMs` (`Infinity`: never). Idempotent.
   */
  orphan(timeoutMs: number): void;
}

/**
 * Starts a manager server that any authenticated client may stop (see the module).
 *
 * @example A server on a unix socket
 * ```ts
 * import { serve } from "./_serve.ts";
 * import { KINDS } from "../../kinds.ts";
 * const s = await serve({ address: "unix:/tmp/procshare-serve-doc.sock", kinds: KINDS });
 * console.log(s.address); // unix:/tmp/procshare-serve-doc.sock
 * await s.close();
 * ```
 */
export async function serve(options: ServeOptions): Promise<ServingServer> {
  const host = new ServingHost(options.kinds, { maxAnonymous: options.maxAnonymous });
  const server = await startServer({ ...options, host });
  const served = new Served(server, host);
  host.onShutdown = () => void served.close();
  return served;
}

class Served implements ServingServer {
  readonly #server: ManagerServer;
  readonly #host: EngineHost;
  #closing: Promise<void> | undefined;
  #orphanTimer: ReturnType<typeof setInterval> | undefined;
  readonly closed: Promise<void>;
  #resolveClosed!: () => void;

  constructor(server: ManagerServer, host: EngineHost) {
    this.#server = server;
    this.#host = host;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  get address(): string {
    return this.#server.address;
  }

  get authkey(): Uint8Array {
    return this.#server.authkey;
  }

  get connectionCount(): number {
    return this.#server.connectionCount;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#orphanTimer !== undefined) clearInterval(this.#orphanTimer);
      try {
        await this.#server.close();
      } finally {
        this.#host.clear(); // the server was given its host, so it leaves the structures to us
        this.#resolveClosed();
      }
    })();
    return this.#closing;
  }

  orphan(timeoutMs: number): void {
    if (this.#orphanTimer !== undefined || this.#closing || !(timeoutMs < Infinity)) return;
    let idleSince = performance.now();
    // a coarse check: the policy is about minutes of idleness, not about milliseconds
    this.#orphanTimer = setInterval(() => {
      if (this.#server.connectionCount > 0) idleSince = performance.now();
      else if (performance.now() - idleSince >= timeoutMs) void this.close();
    }, Math.max(1, Math.min(timeoutMs / 4, 1000)));
  }
}

/**
 * Stops `server` on the first SIGINT or SIGTERM (its socket file removed);
 * returns a function that stops listening for them.
 *
 * @example
 * ```ts
 * import { serve, stopOnSignals } from "./_serve.ts";
 * import { KINDS } from "../../kinds.ts";
 * const s = await serve({ address: "tcp://127.0.0.1:0", kinds: KINDS });
 * const forget = stopOnSignals(s);
 * await s.close();
 * forget();
 * ```
 */
export function stopOnSignals(server: ServingServer): () => void {
  const stop = () => void server.close();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  return () => {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  };
}
