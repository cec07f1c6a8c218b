/**
 * A stream a child process inherited from its parent on a file descriptor
 * above stdio (the parent spawned it with `stdio: [..., "pipe"]`, which every
 * runtime makes a unix socketpair), opened as a {@linkcode Duplex}.
 *
 * Tried on the three runtimes (Node 20, Deno 2.9, Bun 1.4): `new
 * net.Socket({ fd })` reads and writes on Node and Deno, but gets no data on
 * Bun; `fs` streams on the fd work on all three, but on Node each pending
 * read holds a thread of libuv's pool. So Node and Deno take the socket, Bun
 * the `fs` streams. Opening `/dev/fd/N` fails on all three (`ENXIO`: the fd is
 * a socket, not a pipe).
 *
 * @example Opening fd 3 in a child
 * ```ts
 * import { openInherited } from "./inherited.ts";
 * const io = openInherited(3);
 * io.on("data", (chunk) => console.log(chunk.length));
 * io.write(new Uint8Array([1]));
 * ```
 * @module
 */
import * as fs from "node:fs";
import * as net from "node:net";
import type { Duplex } from "../_duplex.ts";
import { runtime } from "./runtime.ts";

/** Opens inherited descriptor `fd` (≥ 3) as a byte stream both ways. */
export function openInherited(fd: number): Duplex {
  if (runtime !== "bun") return new net.Socket({ fd, readable: true, writable: true });
  return new FdStreams(fd);
}

/** Bun: a read stream and a write stream on one descriptor, as one Duplex. */
class FdStreams implements Duplex {
  readonly #in: fs.ReadStream;
  readonly #out: fs.WriteStream;
  #closed = false;
  readonly #onClose: Array<() => void> = [];

  constructor(fd: number) {
    this.#in = fs.createReadStream("", { fd, autoClose: false });
    this.#out = fs.createWriteStream("", { fd, autoClose: false });
    const close = () => this.destroy();
    this.#in.on("end", close);
    this.#in.on("error", close);
    this.#out.on("error", close);
  }

  write(bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    return this.#out.write(bytes);
  }

  end(): void {
    this.#out.end();
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#in.destroy();
    this.#out.destroy();
    for (const f of this.#onClose) f();
  }

  on(event: "data" | "close" | "error", listener: (arg: never) => void): this {
    if (event === "close") this.#onClose.push(listener as () => void);
    else if (event === "data") {
      this.#in.on("data", (chunk) => (listener as (c: Uint8Array) => void)(chunk as Uint8Array));
    } else this.#in.on("error", listener as (e: Error) => void);
    return this;
  }
}
