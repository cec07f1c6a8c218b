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
import { frame, FrameDecoder } from "../../../transports/_frame.ts";
import { connectTo, type NetSocket } from "../../../transports/_runtime/net.ts";
import { socketAddress } from "../../../transports/socket/address.ts";
import { concat, headOf, setRequest, valueSharingBomb } from "../../../tests/fixtures/hostile_frames.ts";

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
