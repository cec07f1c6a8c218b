/**
 * The message layer of the socket transport (and of any transport that runs
 * its server and client): what one frame carries once the handshake
 * (`_auth.ts`) is done. Every payload is a CBOR array (`_codec.ts`):
 *
 * | direction | message | type |
 * |---|---|---|
 * | client → server | `[callId, "open", kind, name \| null, params[]]` | {@linkcode OpenRequest} |
 * | client → server | `[callId, "call", id, op, args[]]` | {@linkcode CallRequest} |
 * | client → server | `[callId, "cancel"]` — aborts the in-flight call `callId` (no answer of its own) | {@linkcode CancelRequest} |
 * | server → client | `[callId, 0, value]` — success; for `"open"`, `value` is {@linkcode OpenResult} | {@linkcode OkReply} |
 * | server → client | `[callId, 1, { tag, reason, message }]` — failure, revived by {@linkcode fromWireError} | {@linkcode ErrorReply} |
 * | server → client | `[null, 1, { tag, reason, message }]` — the connection failed; the server closes it | {@linkcode FatalReply} |
 *
 * `callId` is a non-negative safe integer chosen by the client, unique among
 * its calls in flight. The server answers in completion order, not request
 * order.
 *
 * Each side reads with one parser, {@linkcode parseRequest} or
 * {@linkcode parseReply}: bytes in, a typed message or a typed error out,
 * never a throw. A bad request that still has a readable call id is answered
 * with an error for that call (the connection stays); one without is a
 * {@linkcode FatalReply} and the connection closes.
 *
 * @example A request and its answer, both ways through the codec
 * ```ts
 * import { encodeReply, encodeRequest, parseReply, parseRequest } from "./_wire.ts";
 * const req = parseRequest(encodeRequest([1, "call", 7, "get", ["a"]]));
 * if (req.ok && req.request[1] === "call") console.log(req.request[3]); // get
 * const rep = parseReply(encodeReply([1, 0, 42]));
 * if (rep.ok) console.log(rep.reply[2]); // 42
 * ```
 * @module
 */
import { CodecError, reviveError, TransportError } from "../errors.ts";
import { HANDSHAKE_TIMEOUT_MS } from "./_auth.ts";
import { decodeWire, encode } from "./_codec.ts";

/** Status word of a reply: the call succeeded. */
export const STATUS_OK = 0;
/** Status word of a reply: the call (or, with a null call id, the connection) failed. */
export const STATUS_ERROR = 1;

/** A client's number for one of its calls: a non-negative safe integer. */
export type CallId = number;

/** Opens the structure `name` of `kind`, creating it from `params` if new; anonymous when `name` is null. */
export type OpenRequest = readonly [
  callId: CallId,
  verb: "open",
  kind: string,
  name: string | null,
  params: readonly unknown[],
];
/** Calls operation `op` of the structure `id`. */
export type CallRequest = readonly [callId: CallId, verb: "call", id: number, op: string, args: readonly unknown[]];
/** Aborts the call `callId` in flight; it gets no answer of its own. */
export type CancelRequest = readonly [callId: CallId, verb: "cancel"];
/** Every message a client sends after the handshake. */
export type WireRequest = OpenRequest | CallRequest | CancelRequest;

/** The `value` of a successful `"open"`. */
export interface OpenResult {
  readonly id: number;
  readonly created: boolean;
}

/** The `{ tag, reason, message }` form of an error on the wire. */
export interface WireError {
  readonly tag: string;
  readonly reason: string;
  readonly message: string;
}

/** The call succeeded with `value`. */
export type OkReply = readonly [callId: CallId, status: typeof STATUS_OK, value: unknown];
/** The call failed. */
export type ErrorReply = readonly [callId: CallId, status: typeof STATUS_ERROR, error: WireError];
/** The connection failed; the server closes it after this frame. */
export type FatalReply = readonly [callId: null, status: typeof STATUS_ERROR, error: WireError];
/** Every message a server sends after the handshake. */
export type WireReply = OkReply | ErrorReply | FatalReply;

/**
 * What {@linkcode parseRequest} gives: the request, or an error for the call
 * `callId` (answer it, keep the connection) — `TransportError("Protocol")`, or
 * `CodecError("Malformed")` for bytes outside the data model — or, when
 * `callId` is null, a `TransportError("Protocol")` for the connection (send a
 * {@linkcode FatalReply} and close).
 */
export type ParsedRequest =
  | { readonly ok: true; readonly request: WireRequest }
  | { readonly ok: false; readonly callId: CallId; readonly error: TransportError | CodecError }
  | { readonly ok: false; readonly callId: null; readonly error: TransportError };

/** What {@linkcode parseReply} gives: the reply, or a `TransportError("Protocol")` that ends the connection. */
export type ParsedReply =
  | { readonly ok: true; readonly reply: WireReply }
  | { readonly ok: false; readonly error: TransportError };

/**
 * True for a valid call id: a non-negative safe integer.
 *
 * @example
 * ```ts
 * import { isCallId } from "./_wire.ts";
 * console.log(isCallId(3), isCallId(-1), isCallId("3")); // true false false
 * ```
 */
export function isCallId(v: unknown): v is CallId {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * The wire form of any thrown value: a tagged error keeps its `_tag` and
 * `reason`, another `Error` its name, anything else becomes `"Error"`.
 *
 * @example
 * ```ts
 * import { toWireError } from "./_wire.ts";
 * console.log(toWireError(new RangeError("too big"))); // { tag: "RangeError", reason: "", message: "too big" }
 * ```
 */
export function toWireError(e: unknown): WireError {
  if (e instanceof Error) {
    const tagged = e as Error & { _tag?: unknown; reason?: unknown };
    return {
      tag: typeof tagged._tag === "string" ? tagged._tag : e.name,
      reason: typeof tagged.reason === "string" ? tagged.reason : "",
      message: e.message,
    };
  }
  return { tag: "Error", reason: "", message: String(e) };
}

/**
 * The error a {@linkcode WireError} stands for: procshare's tagged errors and
 * the standard ones are revived as their class, anything else is a
 * `TransportError("Remote")`.
 *
 * @example
 * ```ts
 * import { fromWireError } from "./_wire.ts";
 * const e = fromWireError({ tag: "LockError", reason: "Timeout", message: "Cannot acquire lock" });
 * console.log(e.name); // LockError
 * ```
 */
export function fromWireError(w: WireError): Error {
  return reviveError(w.tag, w.reason, w.message);
}

/**
 * The bytes of a request. Throws `CodecError` for arguments the codec refuses
 * (functions, symbols, class instances).
 *
 * @example
 * ```ts
 * import { encodeRequest } from "./_wire.ts";
 * console.log(encodeRequest([1, "cancel"]) instanceof Uint8Array); // true
 * ```
 */
export function encodeRequest(request: WireRequest): Uint8Array {
  return encode(request);
}

/**
 * The bytes of a reply. Throws `CodecError` for a value the codec refuses.
 *
 * @example
 * ```ts
 * import { encodeReply, toWireError } from "./_wire.ts";
 * const bytes = encodeReply([null, 1, toWireError(new Error("bye"))]);
 * console.log(bytes.length > 0); // true
 * ```
 */
export function encodeReply(reply: WireReply): Uint8Array {
  return encode(reply);
}

/**
 * Reads one request payload, checking every field's type.
 *
 * @example A malformed call is an error for that call
 * ```ts
 * import { encodeRequest, parseRequest } from "./_wire.ts";
 * import { encode } from "./_codec.ts";
 * const bad = parseRequest(encode([4, "call", 1, 99, []]));
 * if (!bad.ok) console.log(bad.callId, bad.error.reason); // 4 Protocol
 * console.log(parseRequest(encodeRequest([5, "cancel"])).ok); // true
 * ```
 */
export function parseRequest(payload: Uint8Array): ParsedRequest {
  let msg: unknown;
  try {
    msg = decodeWire(payload);
  } catch (e) {
    const callId = leadingCallId(payload);
    if (callId !== null && e instanceof CodecError) return { ok: false, callId, error: e };
    return fatal(`Cannot read request as it is not valid CBOR: received ${payload.length} bytes`);
  }
  if (!Array.isArray(msg) || !isCallId(msg[0])) {
    return fatal(`Cannot read request as it is not an array starting with a call id: received ${describe(msg)}`);
  }
  const callId = msg[0];
  switch (msg[1]) {
    case "call": {
      const [, , id, op, args] = msg;
      if (typeof id !== "number" || typeof op !== "string" || !Array.isArray(args)) {
        return bad(callId, `Cannot read call as its id, op or args are malformed: received ${describe(msg)}`);
      }
      return { ok: true, request: [callId, "call", id, op, args] };
    }
    case "cancel":
      return { ok: true, request: [callId, "cancel"] };
    case "open": {
      const [, , kind, name, params] = msg;
      if (typeof kind !== "string" || (name !== null && typeof name !== "string") || !Array.isArray(params)) {
        return bad(callId, `Cannot read open as its kind, name or params are malformed: received ${describe(msg)}`);
      }
      return { ok: true, request: [callId, "open", kind, name, params] };
    }
    default:
      return bad(callId, `Cannot read request as its verb is unknown: received ${describe(msg[1])}`);
  }
}

/**
 * Reads one reply payload, checking its shape; the error of a failed call is
 * read leniently (missing fields become `"Error"` and `""`), so whatever the
 * server threw arrives as some error.
 *
 * @example
 * ```ts
 * import { parseReply } from "./_wire.ts";
 * import { encode } from "./_codec.ts";
 * const r = parseReply(encode([3, 1, { tag: "TransportError", reason: "NotFound", message: "gone" }]));
 * if (r.ok && r.reply[1] === 1) console.log(r.reply[2].reason); // NotFound
 * console.log(parseReply(encode("hello")).ok); // false
 * ```
 */
export function parseReply(payload: Uint8Array): ParsedReply {
  let msg: unknown;
  try {
    msg = decodeWire(payload);
  } catch (e) {
    return {
      ok: false,
      error: new TransportError(
        "Protocol",
        `Cannot read answer as it is not valid CBOR: received ${payload.length} bytes`,
        { cause: e },
      ),
    };
  }
  if (!Array.isArray(msg)) {
    return {
      ok: false,
      error: new TransportError("Protocol", `Cannot read answer as it is not an array: received ${describe(msg)}`),
    };
  }
  const [callId, status, body] = msg;
  if (
    (callId !== null && !isCallId(callId)) || (status !== STATUS_OK && status !== STATUS_ERROR) ||
    (callId === null && status === STATUS_OK)
  ) {
    return {
      ok: false,
      error: new TransportError(
        "Protocol",
        `Cannot read answer as its call id or status is malformed: received ${describe(msg)}`,
      ),
    };
  }
  if (status === STATUS_OK) return { ok: true, reply: [callId as CallId, STATUS_OK, body] };
  return {
    ok: true,
    reply: callId === null ? [null, STATUS_ERROR, readError(body)] : [callId, STATUS_ERROR, readError(body)],
  };
}

/** The call id a request's bytes start with (`[callId, …`), read without decoding the rest; null if none. */
function leadingCallId(b: Uint8Array): CallId | null {
  // 0x81–0x97: an array of 1 to 23 items (requests have 2 or 5); then a uint of at most 8 bytes
  if (b.length < 2 || b[0] < 0x81 || b[0] > 0x97) return null;
  const ib = b[1];
  if (ib < 24) return ib;
  const n = ib === 24 ? 1 : ib === 25 ? 2 : ib === 26 ? 4 : ib === 27 ? 8 : 0;
  if (n === 0 || b.length < 2 + n) return null;
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 256 + b[2 + i];
  return isCallId(v) ? v : null;
}

function readError(w: unknown): WireError {
  const o = (typeof w === "object" && w !== null ? w : {}) as Record<string, unknown>;
  return { tag: String(o.tag ?? "Error"), reason: String(o.reason ?? ""), message: String(o.message ?? w) };
}

function fatal(message: string): ParsedRequest {
  return { ok: false, callId: null, error: new TransportError("Protocol", message) };
}

function bad(callId: CallId, message: string): ParsedRequest {
  return { ok: false, callId, error: new TransportError("Protocol", message) };
}

/** A short description of a wire value for error messages; never its content beyond 40 characters. */
function describe(v: unknown): string {
  if (Array.isArray(v)) return `array(${v.length})`;
  if (v === null) return "null";
  if (v instanceof Uint8Array) return `bytes(${v.length})`;
  if (typeof v === "object") return "object";
  return `${typeof v} ${String(v).slice(0, 40)}`;
}

/**
 * Checks a `handshakeTimeoutMs` option of either end of a connection and
 * returns it, or `HANDSHAKE_TIMEOUT_MS` when absent.
 *
 * @example
 * ```ts
 * import { checkHandshakeTimeout } from "./_wire.ts";
 * console.log(checkHandshakeTimeout(undefined), checkHandshakeTimeout(50)); // 5000 50
 * ```
 */
export function checkHandshakeTimeout(ms: number | undefined): number {
  if (ms === undefined) return HANDSHAKE_TIMEOUT_MS;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new RangeError(`Cannot use handshakeTimeoutMs as it must be a positive number: received ${ms}`);
  }
  return ms;
}
