/**
 * What carries a manager's structures. A transport opens a structure by kind
 * and name (creating it when the name is new) and gives back its
 * serializable handle; a {@linkcode TransportProvider} starts or joins
 * transports of its URL schemes and tells how a handle of its own is reached.
 * `transports/_registry.ts` maps schemes to providers; {@linkcode parseTransport}
 * is the one parser of transport URLs.
 * @module
 */
import { TransportError } from "../errors.ts";
import type { Backend, Handle } from "../core/backend.ts";
import type { Kinds, StructureSpec } from "../core/structure.ts";
import { getEnv } from "./_runtime/env.ts";

export { TransportError } from "../errors.ts";
export type { TransportErrorReason } from "../errors.ts";

/** A transport, Promise side: how the manager reaches its structures. */
export interface TransportImpl {
  /** URL of the transport (`shared-buffer:`, `unix:/path`, `tcp://host:port`). */
  readonly url: string;
  /** Address other processes join with `Manager.connect`; undefined for the shared buffer. */
  readonly address: string | undefined;
  /** Authkey other processes must present; undefined for the shared buffer. */
  readonly authkey: Uint8Array | undefined;
  /**
   * Opens the structure `name` of `kind`, creating it from `params` (the
   * factory's positional parameters, then its options) when it does not exist
   * or when `name` is undefined.
   */
  open(kind: string, name: string | undefined, params: readonly unknown[]): Promise<Handle>;
  /**
   * Forgets the name `name`: the structure is freed once no thread or
   * connection holds it. Resolves true when the name existed.
   */
  delete(name: string): Promise<boolean>;
  /**
   * Gives back the reference `open` took for the manager's own connection,
   * once the structure is attached (socket transports; absent elsewhere).
   */
  release?(handle: Handle): void;
  /** How many structures the host keeps, when the host is in this process. */
  readonly size?: number;
  /** Closes the transport: stops a server it started, closes connections. */
  close(): Promise<void>;
}

/** How a manager starts or joins a transport. */
export interface StartOptions {
  /** Every kind the transport may host. */
  readonly kinds: Kinds;
  /**
   * Kinds only a manager server runs (custom types, whose every op executes
   * in the server's process): a transport with a server serves them over
   * `kinds`; one without ignores them, so `kinds`' own spec of the kind
   * (which refuses to create) answers there.
   */
  readonly serverKinds?: Kinds;
  /** Authkey for transports with a server (default: 32 random bytes). */
  readonly authkey?: Uint8Array | string;
  /** Largest message, in bytes, a socket connection carries either way (default 64 MiB). */
  readonly maxFrameBytes?: number;
  /** Server only: unsent reply bytes past which a connection is not read (default 2 × maxFrameBytes). */
  readonly maxPendingReplyBytes?: number;
  /** Server only: how long a frame may take to arrive whole (default 30 s). */
  readonly frameTimeoutMs?: number;
  /** Server only: most anonymous structures held at once (default 16,384). */
  readonly maxAnonymous?: number;
}

/** How a manager joins a running transport. */
export interface TransportConnectOptions {
  /** The authkey the server expects (`shm:`: checked only when the manager was started with one; the regions' 0600 mode is its access control). */
  readonly authkey: Uint8Array | string;
  /** Every kind the transport may host (`shm:`, where the joining process creates structures itself). */
  readonly kinds?: Kinds;
  /** Largest message, in bytes, a socket connection carries either way (default 64 MiB). */
  readonly maxFrameBytes?: number;
}

/** One transport implementation, for the URL schemes it names. */
export interface TransportProvider {
  /** URL schemes this provider serves (`["unix", "tcp"]`). */
  readonly schemes: readonly string[];
  /** The `via` of the handles it makes. */
  readonly via: string;
  /** Starts a transport (and its server, if it has one). */
  start(config: TransportConfig, options: StartOptions): Promise<TransportImpl>;
  /** Joins a running transport by address; absent where there is nothing to join. */
  connect?(config: TransportConfig, options: TransportConnectOptions): Promise<TransportImpl>;
  /** How a handle of this transport reaches its engine. */
  backend<E>(handle: Handle, spec: StructureSpec<E>): Backend<E> | Promise<Backend<E>>;
}

/** A parsed transport configuration. */
export type TransportConfig =
  | { readonly kind: "shared-buffer" }
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  | { readonly kind: "pipe" }
  | { readonly kind: "shm"; readonly name?: string }
  | { readonly kind: "redis"; readonly url: string };

/** Options object form of a transport choice. */
export type TransportOptions = TransportConfig;

/** The config of a socket transport. */
export type SocketConfig = Extract<TransportConfig, { kind: "unix" | "tcp" }>;

/**
 * Parses a transport URL (`shared-buffer:`, `unix:/path`,
 * `tcp://127.0.0.1:7070`, `shm:` / `shm:/name`, `pipe:`;
 * `redis://host:6379/0?prefix=app:` is parsed but not built yet), an
 * options object, or — when `spec` is
 * undefined — the `PROCSHARE_TRANSPORT` environment variable, defaulting to
 * the shared buffer.
 *
 * @example Parsing a TCP URL
 * ```ts
 * import { parseTransport } from "./transport.ts";
 * console.log(parseTransport("tcp://127.0.0.1:7070")); // { kind: "tcp", host: "127.0.0.1", port: 7070 }
 * ```
 */
export function parseTransport(spec?: string | TransportOptions): TransportConfig {
  if (spec === undefined) spec = getEnv("PROCSHARE_TRANSPORT") || "shared-buffer:";
  if (typeof spec === "object" && spec !== null) return spec;
  if (typeof spec !== "string") {
    throw new TransportError(
      "BadUrl",
      `Cannot parse transport as it is not a string or options: received ${String(spec)}`,
    );
  }
  if (spec === "shared-buffer:" || spec === "shared-buffer") return { kind: "shared-buffer" };
  if (spec === "pipe:" || spec === "pipe") return { kind: "pipe" };
  if (spec === "shm:" || spec === "shm") return { kind: "shm" };
  if (spec.startsWith("shm:/")) {
    const name = spec.slice("shm:/".length);
    if (!/^[A-Za-z0-9._-]{1,200}$/.test(name) || name === "." || name === "..") {
      throw new TransportError(
        "BadUrl",
        `Cannot parse transport as an shm name is 1 to 200 letters, digits, '.', '_' or '-': received ${spec}`,
      );
    }
    return { kind: "shm", name };
  }
  if (spec.startsWith("unix:")) {
    const path = spec.slice("unix:".length).replace(/^\/\/(?=\/)/, "");
    if (!path) throw new TransportError("BadUrl", `Cannot parse transport as the unix path is empty: received ${spec}`);
    return { kind: "unix", path };
  }
  if (spec.startsWith("tcp://")) {
    const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(spec);
    if (!m) {
      throw new TransportError(
        "BadUrl",
        `Cannot parse transport as the tcp address is not host:port: received ${spec}`,
      );
    }
    const port = Number(m[2]);
    if (port > 65535) {
      throw new TransportError("BadUrl", `Cannot parse transport as the port is out of range: received ${spec}`);
    }
    return { kind: "tcp", host: m[1].replace(/^\[|\]$/g, ""), port };
  }
  if (spec.startsWith("redis://") || spec.startsWith("rediss://")) return { kind: "redis", url: spec };
  throw new TransportError("BadUrl", `Cannot parse transport as the scheme is unknown: received ${spec}`);
}

/** The URL of a parsed config (inverse of {@linkcode parseTransport}). */
export function formatTransport(config: TransportConfig): string {
  switch (config.kind) {
    case "unix":
      return `unix:${config.path}`;
    case "tcp":
      return `tcp://${config.host.includes(":") ? `[${config.host}]` : config.host}:${config.port}`;
    case "redis":
      return config.url;
    case "shm":
      return config.name === undefined ? "shm:" : `shm:/${config.name}`;
    default:
      return `${config.kind}:`;
  }
}
