/**
 * The socket transport as the manager sees it: start a manager server (unix
 * socket or loopback TCP) plus a client to it, or connect to one; handles of
 * its structures carry the address, the authkey and the structure's id, and
 * attach through one cached connection per thread.
 * @module
 */
import { type Handle, registerAttacher, structureOf } from "./_attach.ts";
import { toAuthkey } from "./_auth.ts";
import { clientFor, connect as connectClient, type ManagerServer, type SocketClient, startServer } from "./socket.ts";
import type { TransportImpl } from "./transport.ts";
import "../structures/mod.ts";
import "../sync/mod.ts";

/** The remote handle of a structure on a manager server. */
export interface SocketHandle extends Handle {
  readonly via: "socket";
  readonly address: string;
  readonly authkey: Uint8Array;
  readonly id: number;
}

class SocketTransport implements TransportImpl {
  constructor(
    readonly address: string,
    readonly authkey: Uint8Array,
    readonly client: SocketClient,
    readonly server: ManagerServer | undefined,
  ) {}

  get url(): string {
    return this.address;
  }

  async open(kind: string, name: string | undefined, params: readonly unknown[]): Promise<Handle> {
    const { id } = await this.client.open(kind, name ?? null, params);
    const h: SocketHandle = { kind, via: "socket", address: this.address, authkey: this.authkey, id };
    return h;
  }

  async close(): Promise<void> {
    await this.client.close();
    await this.server?.close();
  }
}

/** Starts a manager server at a unix path or TCP port and connects to it. */
export async function start(
  config: { kind: "unix"; path: string } | { kind: "tcp"; host: string; port: number },
  authkey?: Uint8Array | string,
): Promise<TransportImpl> {
  const address = config.kind === "unix"
    ? `unix:${config.path}`
    : `tcp://${config.host.includes(":") ? `[${config.host}]` : config.host}:${config.port}`;
  const server = await startServer({ address, authkey });
  try {
    const client = await connectClient(server.address, { authkey: server.authkey });
    return new SocketTransport(server.address, server.authkey, client, server);
  } catch (e) {
    await server.close();
    throw e;
  }
}

/** Connects to the manager server at `address`. */
export async function connect(address: string, authkey: Uint8Array | string): Promise<TransportImpl> {
  const client = await connectClient(address, { authkey });
  return new SocketTransport(client.address, toAuthkey(authkey), client, undefined);
}

registerAttacher("socket", async (h) => {
  const s = h as SocketHandle;
  const client = await clientFor(s.address, s.authkey);
  return structureOf(s.kind).fromRemote(s, {
    call: (op, args, signal) => client.call(s.id, op, args, signal && { signal }),
  });
});
