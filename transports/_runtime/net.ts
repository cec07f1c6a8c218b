/**
 * The one door of procshare onto sockets and socket files: `node:net` and
 * `node:fs`, which Node 20, Deno 2 and Bun 1 all provide. Verified on the
 * three: unix and TCP listen/connect, `chmod` of a socket file, `ref`/`unref`
 * and `setNoDelay` on sockets, and that every `data` chunk is a fresh,
 * exactly-sized buffer (so frame payloads may be views of it). All three
 * unlink a unix socket file when its server closes; we unlink again anyway.
 *
 * No runtime needed a branch so far; if one ever misbehaves, the workaround
 * goes here and nowhere else.
 *
 * @example Listening on a free loopback port
 * ```ts
 * import { boundAddress, listen } from "./net.ts";
 * const server = await listen({ kind: "tcp", host: "127.0.0.1", port: 0 }, (s) => s.end());
 * console.log(boundAddress(server).port > 0); // true
 * server.close();
 * ```
 * @module
 */
import * as net from "node:net";
import * as fs from "node:fs/promises";
import { resolve } from "node:path";

/** A connected stream socket. */
export type NetSocket = net.Socket;
/** A listening socket server. */
export type NetServer = net.Server;

/** Where to listen or connect: a unix socket path, or a TCP host and port. */
export type NetTarget =
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number };

/**
 * Starts listening on `target`; `onConnection` gets every accepted socket.
 * Rejects with the runtime's own error (`code` set) when listening fails.
 *
 * @example A unix socket server
 * ```ts
 * import { listen } from "./net.ts";
 * const server = await listen({ kind: "unix", path: "/tmp/doc-example.sock" }, (s) => s.end());
 * server.close();
 * ```
 */
export function listen(target: NetTarget, onConnection: (socket: NetSocket) => void): Promise<NetServer> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ noDelay: target.kind === "tcp" }, onConnection);
    const onError = (e: Error) => reject(e);
    server.once("error", onError);
    const onListening = () => {
      server.off("error", onError);
      resolve(server);
    };
    if (target.kind === "unix") server.listen(target.path, onListening);
    else server.listen(target.port, target.host, onListening);
  });
}

/**
 * Connects to `target`; resolves once connected, rejects with the runtime's
 * own error (`code` set: `ENOENT`, `ECONNREFUSED`, …).
 *
 * @example Connecting to a local TCP port
 * ```ts
 * import { connectTo, listen, boundAddress } from "./net.ts";
 * const server = await listen({ kind: "tcp", host: "127.0.0.1", port: 0 }, (s) => s.end());
 * const socket = await connectTo({ kind: "tcp", host: "127.0.0.1", port: boundAddress(server).port });
 * socket.destroy();
 * server.close();
 * ```
 */
export function connectTo(target: NetTarget): Promise<NetSocket> {
  return new Promise((resolve, reject) => {
    const socket = target.kind === "unix"
      ? net.createConnection({ path: target.path })
      : net.createConnection({ host: target.host, port: target.port, noDelay: true });
    const onError = (e: Error) => {
      socket.destroy();
      reject(e);
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      socket.off("error", onError);
      if (target.kind === "tcp") socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/**
 * The host and port a TCP server is bound to (port 0 resolved).
 *
 * @example
 * ```ts
 * import { boundAddress, listen } from "./net.ts";
 * const server = await listen({ kind: "tcp", host: "127.0.0.1", port: 0 }, (s) => s.end());
 * console.log(boundAddress(server).host); // 127.0.0.1
 * server.close();
 * ```
 */
export function boundAddress(server: NetServer): { host: string; port: number } {
  const a = server.address();
  if (a === null || typeof a === "string") {
    throw new TypeError(`Cannot read the bound address of a non-TCP server: received ${a}`);
  }
  return { host: a.address, port: a.port };
}

/**
 * `path` made absolute against the current directory, so that an address
 * handed to another process means the same file there.
 *
 * @example
 * ```ts
 * import { absolutePath } from "./net.ts";
 * console.log(absolutePath("/tmp/a.sock")); // /tmp/a.sock
 * ```
 */
export function absolutePath(path: string): string {
  return resolve(path);
}

/**
 * What is at `path`: a socket, something else, or nothing.
 *
 * @example
 * ```ts
 * import { pathKind } from "./net.ts";
 * console.log(await pathKind("/definitely/not/here")); // missing
 * ```
 */
export async function pathKind(path: string): Promise<"socket" | "other" | "missing"> {
  try {
    return (await fs.lstat(path)).isSocket() ? "socket" : "other";
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return "missing";
    throw e;
  }
}

/**
 * Restricts a socket file to its owner (mode 0600).
 *
 * @example
 * ```ts
 * import { chmodOwnerOnly, listen } from "./net.ts";
 * const server = await listen({ kind: "unix", path: "/tmp/doc-chmod.sock" }, (s) => s.end());
 * await chmodOwnerOnly("/tmp/doc-chmod.sock");
 * server.close();
 * ```
 */
export async function chmodOwnerOnly(path: string): Promise<void> {
  await fs.chmod(path, 0o600);
}

/**
 * The permission bits of a file (e.g. `0o600`).
 *
 * @example
 * ```ts
 * import { fileMode } from "./net.ts";
 * console.log(typeof (await fileMode("/tmp"))); // number
 * ```
 */
export async function fileMode(path: string): Promise<number> {
  return (await fs.lstat(path)).mode & 0o777;
}

/**
 * Removes a file; a file already gone is not an error.
 *
 * @example
 * ```ts
 * import { unlinkQuiet } from "./net.ts";
 * await unlinkQuiet("/tmp/never-existed.sock");
 * ```
 */
export async function unlinkQuiet(path: string): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (e) {
    if ((e as { code?: string }).code !== "ENOENT") throw e;
  }
}
