/**
 * The one thing the socket server and client need of a connection: a
 * byte stream both ways. A connected `node:net` socket is one as it is; a
 * child process's pipe pair (its stdin for writing, its stdout for reading)
 * can be wrapped into one, so that the pipe transport (`transports/pipe/`) runs the same server
 * connection handler and the same client as the socket transport.
 *
 * Every chunk given to a `"data"` listener must be a fresh buffer that the
 * stream does not reuse: frame payloads are views of it (`_frame.ts`).
 *
 * @example A socket is a Duplex
 * ```ts
 * import type { Duplex } from "./_duplex.ts";
 * import { connectTo, listen, boundAddress } from "./_runtime/net.ts";
 * const server = await listen({ kind: "tcp", host: "127.0.0.1", port: 0 }, (s) => s.end());
 * const io: Duplex = await connectTo({ kind: "tcp", host: "127.0.0.1", port: boundAddress(server).port });
 * io.destroy();
 * server.close();
 * ```
 * @module
 */

/** A connected byte stream, both ways: what a server connection and a client run over. */
export interface Duplex {
  /** Queues bytes to the peer, in order. */
  write(bytes: Uint8Array): unknown;
  /** Closes the writing side once what was written is sent; the peer sees the end. */
  end(): unknown;
  /** Closes both sides now; queued bytes may be lost. Emits `"close"`. */
  destroy(): unknown;
  /** Bytes from the peer, as they arrive (split or coalesced anywhere). */
  on(event: "data", listener: (chunk: Uint8Array) => void): unknown;
  /** The stream is closed, by either side or by an error; emitted once. */
  on(event: "close", listener: () => void): unknown;
  /** The stream failed; `"close"` follows. */
  on(event: "error", listener: (error: Error) => void): unknown;
  /** Lets the stream keep the process alive (the default). Optional: streams that never hold it need not. */
  ref?(): unknown;
  /** Lets the process exit while the stream is open and idle. */
  unref?(): unknown;
}
