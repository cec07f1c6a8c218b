/**
 * What every structure stands on: its serializable {@linkcode Handle}, and
 * the {@linkcode Backend} a client reaches its engine through — the engine
 * itself when the structure lives in this thread's memory, or a
 * {@linkcode Remote} that sends `(op, args)` to a manager server.
 * @module
 */

/** A plain-data description of a structure, with the transport that carries it. */
export interface Handle {
  /** Structure kind, as in `kinds.ts`: "dict", "queue", "lock", … */
  readonly kind: string;
  /** The transport that carries it: "shared-buffer", "socket", … */
  readonly via: string;
  /** Transport-specific fields: shared buffers and sizes, a socket address and authkey, the structure's name. */
  readonly [k: string]: unknown;
}

/** The key of Node's and Bun's custom inspection method. */
export const INSPECT_NODE: unique symbol = Symbol.for("nodejs.util.inspect.custom") as never;
/** The key of Deno's custom inspection method. */
export const INSPECT_DENO: unique symbol = Symbol.for("Deno.customInspect") as never;

/**
 * An authkey's bytes that never print: `console.log`, `util.inspect`,
 * Deno's and Bun's inspectors and `JSON.stringify` show `[redacted]`. It is
 * still a `Uint8Array`: structured clone and the codec carry the bytes (they
 * arrive as a plain `Uint8Array`, which `attach` wraps again).
 *
 * @example Printing a key shows no bytes
 * ```ts
 * import { Authkey } from "./backend.ts";
 * const key = Authkey.wrap(new Uint8Array([1, 2, 3]));
 * console.log(JSON.stringify({ key })); // {"key":"[redacted]"}
 * ```
 */
export class Authkey extends Uint8Array {
  /** Wraps (copies) key bytes; an Authkey is returned as it is. */
  static wrap(bytes: Uint8Array): Authkey {
    return bytes instanceof Authkey ? bytes : new Authkey(bytes);
  }
  /**
   * The key as lowercase hex, on purpose: the text to hand the key on with
   * (an argument, an environment variable). `Manager.connect` accepts it as
   * it is for a generated 32-byte key, and as `"hex:" + key.toHex()` for a
   * key of any length. Printing never shows it.
   *
   * @example Joining with the hex of a manager's key
   * ```ts
   * import { Manager } from "../mod.ts";
   * await using m = await Manager.start({ transport: "tcp://127.0.0.1:0" });
   * const hex = m.authkey!.toHex(); // 64 hex digits
   * await using other = await Manager.connect(m.address!, { authkey: hex });
   * ```
   */
  // @ts-ignore: Deno's lib declares Uint8Array.prototype.toHex (ES2026) and wants `override`; tsc's ES2024 lib does not have it
  toHex(): string {
    let out = "";
    for (let i = 0; i < this.length; i++) out += this[i].toString(16).padStart(2, "0");
    return out;
  }
  /** What `JSON.stringify` writes. */
  toJSON(): string {
    return "[redacted]";
  }
  /** What Node's and Bun's `util.inspect` print. */
  [INSPECT_NODE](): string {
    return "Authkey [redacted]";
  }
  /** What Deno's inspector prints. */
  [INSPECT_DENO](): string {
    return "Authkey [redacted]";
  }
  /** What string conversion gives: `[redacted]`, never the bytes. */
  override toString(): string {
    return "[redacted]";
  }
}

/** The handle with any `authkey` as an {@linkcode Authkey}, so that printing it shows no key. */
export function redacted(handle: Handle): Handle {
  const key = handle.authkey;
  return key instanceof Uint8Array && !(key instanceof Authkey) ? { ...handle, authkey: Authkey.wrap(key) } : handle;
}

/** True for a value that looks like a structure handle. */
export function isHandle(v: unknown): v is Handle {
  return typeof v === "object" && v !== null && typeof (v as Handle).kind === "string" &&
    typeof (v as Handle).via === "string";
}

/** Something with a serializable handle (every procshare structure). */
export interface HasHandle {
  readonly handle: Handle;
}

/** True for a procshare structure (anything carrying a handle). */
export function hasHandle(v: unknown): v is HasHandle {
  return typeof v === "object" && v !== null && "handle" in v && isHandle((v as HasHandle).handle);
}

/** What an operation knows of its caller. */
export interface CallContext {
  /** Owner id of the caller: its thread's id, or the id of the connection it came through. */
  readonly ownerId: number;
  /** Fires when the caller cancels the call (or its connection closes). */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Calls one operation of a remote structure. A remote made by `attach` holds
 * one reference to the structure on its connection (the server frees an
 * anonymous structure when no connection holds one): `release` gives it
 * back, `pin` takes one more for a receiver of the handle.
 */
export interface Remote {
  call(op: string, args: readonly unknown[], signal?: AbortSignal): Promise<unknown>;
  /**
   * Gives back this remote's reference, once (later calls do nothing); with
   * `pins`, also the references {@linkcode pin} took.
   */
  release?(pins: boolean): void;
  /**
   * One more reference on this remote's connection, kept until
   * `release(true)` or until the connection ends: the handle is on its way
   * to another thread or process, which attaches it on its own connection.
   */
  pin?(): void;
}

/**
 * How a client reaches its engine: the engine in this thread's memory
 * (shared buffer), or a remote (socket).
 */
export type Backend<E> =
  | { readonly engine: E; readonly remote?: undefined }
  | { readonly engine?: undefined; readonly remote: Remote };

/** True for the AbortError a remote call rejects with when its signal fires. */
export function isAbort(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as Error).name === "AbortError";
}

/** A timeout that crossed the wire: CBOR has no undefined in arrays everywhere, so null means none. */
export function timeoutArg(v: unknown): number | undefined {
  return v === null ? undefined : v as number | undefined;
}
