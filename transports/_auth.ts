/**
 * Mutual HMAC-SHA256 challenge–response on an authkey, the scheme of CPython's
 * `multiprocessing.connection` (`deliver_challenge` / `answer_challenge`) run
 * in both directions, folded into three frames:
 *
 * ```
 * server → client   "#CHALLENGE#" ‖ Ns                       (Ns: 40 random bytes)
 * client → server   HMAC(key, "procshare:c2s" ‖ Ns) ‖ "#CHALLENGE#" ‖ Nc
 * server → client   "#WELCOME#" ‖ HMAC(key, "procshare:s2c" ‖ Nc)   or  "#FAILURE#"
 *                   or  "#REFUSED#" ‖ UTF-8 reason   (key proved, but the server cannot serve one more
 *                                                      connection now: {@linkcode refusal})
 * ```
 *
 * The server answers the client's challenge only after the client proved the
 * key, so it is never an HMAC oracle for strangers; the direction labels make
 * a reflected answer useless. Digests are compared with `timingSafeEqual`.
 * The client sends no request before it has checked the server's proof, and
 * the server accepts none before it has checked the client's.
 *
 * These are pure state machines over frame payloads, so any transport that
 * carries frames can share them. `node:crypto` (`randomBytes`, `createHmac`,
 * `timingSafeEqual`) behaves the same on Node, Deno and Bun.
 *
 * @example A handshake between two in-memory ends
 * ```ts
 * import { ClientHandshake, ServerHandshake } from "./_auth.ts";
 * const server = new ServerHandshake("secret");
 * const client = new ClientHandshake("secret");
 * const answer = client.answer(server.challenge);
 * const { accepted, reply } = server.check(answer);
 * client.finish(reply); // throws TransportError("Auth") on a wrong key
 * console.log(accepted); // true
 * ```
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { TransportError } from "../errors.ts";

/** Bytes of each side's random challenge (CPython's `MESSAGE_LENGTH`). */
export const NONCE_BYTES = 40;
/** Bytes of an HMAC-SHA256 digest. */
export const DIGEST_BYTES = 32;
/** Bytes of a generated authkey. */
export const AUTHKEY_BYTES = 32;
/** Largest handshake frame either side accepts. */
export const MAX_HANDSHAKE_FRAME_BYTES = 256;
/** How long either side waits for the handshake to complete, by default. */
export const HANDSHAKE_TIMEOUT_MS = 5000;

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const CHALLENGE = ascii("#CHALLENGE#");
const WELCOME = ascii("#WELCOME#");
const FAILURE = ascii("#FAILURE#");
const REFUSED = ascii("#REFUSED#");
const C2S = ascii("procshare:c2s");
const S2C = ascii("procshare:s2c");

/** Prefix of a string authkey written in hex, of any length: `"hex:0a1b…"`. */
export const HEX_AUTHKEY_PREFIX = "hex:";

const HEX_DIGITS = /^(?:[0-9a-fA-F]{2})+$/;

/** The bytes of a hex string; undefined when it is not an even number of hex digits. */
function fromHex(hex: string): Uint8Array | undefined {
  if (!HEX_DIGITS.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * An authkey as bytes. Byte arrays are copied. A string is read as:
 *
 * - hex, when it is exactly `2 * AUTHKEY_BYTES` (64) hex digits — the form of
 *   a generated key's `toHex()` or `Buffer.from(key).toString("hex")`, so a
 *   key handed on as text (an argument, an environment variable) is the same
 *   key on the other side;
 * - hex, when it starts with `"hex:"` (`"hex:" + key.toHex()` for a key of any
 *   length); digits that are not hex are a `TypeError`;
 * - otherwise a passphrase, encoded as UTF-8.
 *
 * Every side applies the same rule (start, connect, handles), so a string
 * given to both means the same key. An empty or missing key is refused.
 *
 * @example From a passphrase and from hex
 * ```ts
 * import { toAuthkey } from "./_auth.ts";
 * console.log(toAuthkey("abc").length); // 3
 * console.log(toAuthkey("ab".repeat(32)).length); // 32
 * console.log([...toAuthkey("hex:0a0b")]); // [10, 11]
 * ```
 */
export function toAuthkey(authkey: Uint8Array | string): Uint8Array {
  let bytes: Uint8Array;
  if (typeof authkey === "string") {
    if (authkey.startsWith(HEX_AUTHKEY_PREFIX)) {
      const hex = authkey.slice(HEX_AUTHKEY_PREFIX.length);
      const decoded = fromHex(hex);
      if (decoded === undefined) {
        // the digits are (part of) a secret: only their count is told
        throw new TypeError(
          `Cannot use authkey as the text after "hex:" is not an even number of hex digits: received ${hex.length} characters`,
        );
      }
      bytes = decoded;
    } else {
      bytes = (authkey.length === 2 * AUTHKEY_BYTES ? fromHex(authkey) : undefined) ??
        new TextEncoder().encode(authkey);
    }
  } else if (authkey instanceof Uint8Array) bytes = new Uint8Array(authkey);
  else {
    throw new TypeError(
      `Cannot use authkey as it must be a Uint8Array or a string: received ${typeof authkey}`,
    );
  }
  if (bytes.length === 0) throw new TypeError("Cannot use authkey as it is empty: received 0 bytes");
  return bytes;
}

/**
 * A fresh random authkey of {@linkcode AUTHKEY_BYTES} bytes.
 *
 * @example
 * ```ts
 * import { randomAuthkey } from "./_auth.ts";
 * console.log(randomAuthkey().length); // 32
 * ```
 */
export function randomAuthkey(): Uint8Array {
  return new Uint8Array(randomBytes(AUTHKEY_BYTES));
}

function digest(key: Uint8Array, label: Uint8Array, nonce: Uint8Array): Uint8Array {
  return createHmac("sha256", key).update(label).update(nonce).digest();
}

function startsWith(b: Uint8Array, prefix: Uint8Array): boolean {
  if (b.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[i] !== prefix[i]) return false;
  return true;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * The last handshake frame of a server that checked the client's key but
 * cannot serve it (no connection id is free): `"#REFUSED#"` and the reason,
 * cut to fit {@linkcode MAX_HANDSHAKE_FRAME_BYTES}. The client's
 * {@linkcode ClientHandshake.finish} throws it as `TransportError("Connect")`.
 *
 * @example
 * ```ts
 * import { ClientHandshake, refusal, ServerHandshake } from "./_auth.ts";
 * const s = new ServerHandshake("key"), c = new ClientHandshake("key");
 * s.check(c.answer(s.challenge));
 * try { c.finish(refusal("Cannot connect to manager as it is full")); } catch (e) { console.log((e as Error).message); }
 * // Cannot connect to manager as it is full
 * ```
 */
export function refusal(reason: string): Uint8Array {
  let bytes = new TextEncoder().encode(reason);
  const room = MAX_HANDSHAKE_FRAME_BYTES - REFUSED.length;
  if (bytes.length > room) {
    // cut on a character boundary
    let end = room;
    while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
    bytes = bytes.subarray(0, end);
  }
  return concat(REFUSED, bytes);
}

/**
 * The server's side: send {@linkcode ServerHandshake.challenge}, pass the
 * client's one reply to {@linkcode ServerHandshake.check}, send its `reply`,
 * and serve the connection only if `accepted`.
 *
 * @example Refusing a client with the wrong key
 * ```ts
 * import { ClientHandshake, ServerHandshake } from "./_auth.ts";
 * const s = new ServerHandshake("right");
 * const { accepted } = s.check(new ClientHandshake("wrong").answer(s.challenge));
 * console.log(accepted); // false
 * ```
 */
export class ServerHandshake {
  /** First frame payload to send: the server's challenge. */
  readonly challenge: Uint8Array;
  readonly #key: Uint8Array;
  readonly #nonce: Uint8Array;
  #done = false;

  constructor(authkey: Uint8Array | string) {
    this.#key = toAuthkey(authkey);
    this.#nonce = new Uint8Array(randomBytes(NONCE_BYTES));
    this.challenge = concat(CHALLENGE, this.#nonce);
  }

  /** Checks the client's answer; `reply` is the last frame to send either way. */
  check(answer: Uint8Array): { accepted: boolean; reply: Uint8Array } {
    if (this.#done) throw new TransportError("Protocol", "Cannot check a handshake twice");
    this.#done = true;
    const ok = answer.length === DIGEST_BYTES + CHALLENGE.length + NONCE_BYTES &&
      timingSafeEqual(answer.subarray(0, DIGEST_BYTES), digest(this.#key, C2S, this.#nonce)) &&
      startsWith(answer.subarray(DIGEST_BYTES), CHALLENGE);
    if (!ok) return { accepted: false, reply: FAILURE };
    const clientNonce = answer.subarray(DIGEST_BYTES + CHALLENGE.length);
    return { accepted: true, reply: concat(WELCOME, digest(this.#key, S2C, clientNonce)) };
  }
}

/**
 * The client's side: pass the server's first frame to
 * {@linkcode ClientHandshake.answer} and send the result, then pass the
 * server's reply to {@linkcode ClientHandshake.finish}, which throws
 * `TransportError("Auth")` unless the server accepted the key and proved it
 * knows it too, `TransportError("Connect")` with the server's reason when it
 * refused to serve one more connection ({@linkcode refusal}), and
 * `TransportError("Protocol")` on frames that are not a handshake.
 *
 * @example Detecting a server that does not know the key
 * ```ts
 * import { ClientHandshake, ServerHandshake } from "./_auth.ts";
 * const c = new ClientHandshake("k");
 * const s = new ServerHandshake("other");
 * const { reply } = s.check(c.answer(s.challenge));
 * try { c.finish(reply); } catch (e) { console.log((e as Error).name); } // TransportError
 * ```
 */
export class ClientHandshake {
  readonly #key: Uint8Array;
  readonly #nonce: Uint8Array;
  #state: "answer" | "finish" | "done" = "answer";

  constructor(authkey: Uint8Array | string) {
    this.#key = toAuthkey(authkey);
    this.#nonce = new Uint8Array(randomBytes(NONCE_BYTES));
  }

  /** The reply to the server's challenge frame: our proof and our challenge. */
  answer(challenge: Uint8Array): Uint8Array {
    if (this.#state !== "answer") throw new TransportError("Protocol", "Cannot answer a handshake twice");
    this.#state = "finish";
    if (challenge.length !== CHALLENGE.length + NONCE_BYTES || !startsWith(challenge, CHALLENGE)) {
      throw new TransportError(
        "Protocol",
        `Cannot connect to manager as its first frame is not a challenge: received ${challenge.length} bytes`,
      );
    }
    const proof = digest(this.#key, C2S, challenge.subarray(CHALLENGE.length));
    return concat(proof, CHALLENGE, this.#nonce);
  }

  /** Checks the server's verdict and proof; throws unless both are right. */
  finish(reply: Uint8Array): void {
    if (this.#state !== "finish") throw new TransportError("Protocol", "Cannot finish a handshake out of order");
    this.#state = "done";
    if (startsWith(reply, REFUSED)) {
      throw new TransportError("Connect", new TextDecoder().decode(reply.subarray(REFUSED.length)));
    }
    if (startsWith(reply, FAILURE)) {
      throw new TransportError("Auth", "Cannot connect to manager as it refused the authkey: received #FAILURE#");
    }
    if (!startsWith(reply, WELCOME) || reply.length !== WELCOME.length + DIGEST_BYTES) {
      throw new TransportError(
        "Protocol",
        `Cannot connect to manager as its handshake reply is malformed: received ${reply.length} bytes`,
      );
    }
    if (!timingSafeEqual(reply.subarray(WELCOME.length), digest(this.#key, S2C, this.#nonce))) {
      throw new TransportError(
        "Auth",
        "Cannot connect to manager as it failed to prove it knows the authkey: received a wrong digest",
      );
    }
  }
}
