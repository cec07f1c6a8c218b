/**
 * The Transport service: what carries a manager's structures. A transport
 * opens a structure by kind and name (creating it when the name is new) and
 * gives back its serializable handle; `attach(handle)` then builds the
 * structure on the transport the handle names. Shared buffer, socket, pipe
 * and Redis are its implementations.
 * @module
 */
import { Context, Effect } from "effect";
import { TransportError } from "../errors.ts";
import type { Handle } from "./_attach.ts";
import { getEnv } from "./_runtime/env.ts";

export { TransportError } from "../errors.ts";
export type { TransportErrorReason } from "../errors.ts";

/** A transport, Promise side: how the manager reaches its structures. */
export interface TransportImpl {
  /** URL of the transport (`shared-buffer:`, `unix:/path`, `tcp://host:port`, …). */
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
  /** Closes the transport: stops a server it started, closes connections. */
  close(): Promise<void>;
}

/** The Transport service of the Effect API: the same operations as Effects. */
export class Transport extends Context.Service<Transport, {
  readonly url: string;
  readonly address: string | undefined;
  readonly authkey: Uint8Array | undefined;
  open(kind: string, name: string | undefined, params: readonly unknown[]): Effect.Effect<Handle, TransportError>;
  /** The Promise-side transport, for building structures. */
  readonly impl: TransportImpl;
}>()("procshare/Transport") {}

/** Wraps a Promise-side transport as the Effect service. */
export function transportService(impl: TransportImpl): Transport["Service"] {
  return {
    url: impl.url,
    address: impl.address,
    authkey: impl.authkey,
    impl,
    open: (kind, name, params) =>
      Effect.tryPromise({
        try: () => impl.open(kind, name, params),
        catch: (e) =>
          e instanceof TransportError
            ? e
            : new TransportError("Remote", (e as Error)?.message ?? String(e), { cause: e }),
      }),
  };
}

/** A parsed transport configuration. */
export type TransportConfig =
  | { readonly kind: "shared-buffer" }
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  | { readonly kind: "pipe" }
  | { readonly kind: "redis"; readonly url: string };

/** Options object form of a transport choice. */
export type TransportOptions = TransportConfig;

/**
 * Parses a transport URL (`shared-buffer:`, `pipe:`, `unix:/path`,
 * `tcp://127.0.0.1:7070`, `redis://host:6379/0?prefix=app:`), an options
 * object, or — when `spec` is undefined — the `PROCSHARE_TRANSPORT`
 * environment variable, defaulting to the shared buffer.
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
