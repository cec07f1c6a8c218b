/**
 * Section D, the attacker: a separate OS process (started by `spawn`, `as:
 * "process"`) that authenticates to the manager server and sends hostile
 * frames in a loop — value-sharing bombs, 256 KiB bignums, 4 MiB of empty
 * maps, deep nesting — reading each answer before the next, until it is
 * terminated. It counts the frames it got answered in `answered` (a Value)
 * and sets `underWay` after the first.
 */
import type { Event, Value } from "../../../mod.ts";
import { ClientHandshake } from "../../../transports/_auth.ts";
import { encode } from "../../../transports/_codec.ts";
import { frame, FrameDecoder } from "../../../transports/_frame.ts";
import { connectTo, type NetSocket } from "../../../transports/_runtime/net.ts";
import { socketAddress } from "../../../transports/socket/address.ts";

function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function headOf(major: number, n: number): number[] {
  const m = major << 5;
  if (n < 24) return [m | n];
  if (n < 256) return [m | 24, n];
  if (n < 65536) return [m | 25, n >> 8, n & 255];
  return [m | 26, n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function valueSharingBomb(levels: number): Uint8Array {
  const ref = (id: number): number[] => [0xd8, 29, ...headOf(0, id)];
  const parts: number[] = [...headOf(4, levels + 1), 0xd8, 28, 0x81, 0x00];
  for (let k = 1; k <= levels; k++) parts.push(0xd8, 28, 0x82, ...ref(k - 1), ...ref(k - 1));
  return new Uint8Array(parts);
}

/** `[callId, "call", id, "set", ["k", <value>]]` with `value` spliced in as raw bytes. */
function setRequest(callId: number, id: number, value: Uint8Array): Uint8Array {
  const p = encode([callId, "call", id, "set", ["k"]]).slice();
  p[p.length - 3] = 0x82;
  return concat(p, value);
}

class Conn {
  readonly #frames: Uint8Array[] = [];
  #wake: (() => void) | undefined;
  constructor(readonly socket: NetSocket) {
    const decoder = new FrameDecoder(1 << 30);
    socket.on("data", (chunk: Uint8Array) => {
      decoder.push(chunk, (p) => void this.#frames.push(p));
      this.#wake?.();
    });
    socket.on("error", () => {});
    socket.on("close", () => this.#wake?.());
  }
  async next(): Promise<Uint8Array> {
    while (this.#frames.length === 0) await new Promise<void>((resolve) => (this.#wake = resolve));
    return this.#frames.shift()!;
  }
  send(payload: Uint8Array): void {
    this.socket.write(frame(payload));
  }
}

export default async function attacker(
  address: string,
  authkeyHex: string,
  dictId: number,
  answered: Value<"i32">,
  underWay: Event,
): Promise<never> {
  const key = new Uint8Array(authkeyHex.match(/../g)!.map((h) => parseInt(h, 16)));
  const c = new Conn(await connectTo(socketAddress(address)));
  const hs = new ClientHandshake(key);
  c.send(hs.answer(await c.next()));
  hs.finish(await c.next());
  const hostile = [
    valueSharingBomb(40),
    concat([0xc2], headOf(2, 256 * 1024), new Uint8Array(256 * 1024).fill(0xff)),
    concat(headOf(4, 4 << 20), new Uint8Array(4 << 20).fill(0xa0)),
    concat(new Uint8Array(100_000).fill(0x81), [0x00]),
  ].map((v, i) => setRequest(i + 1, dictId, v));
  for (let i = 0;; i++) {
    c.send(hostile[i % hostile.length]);
    await c.next();
    await answered.add(1);
    if (i === 0) await underWay.set();
  }
}
