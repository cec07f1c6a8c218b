/**
 * The socket transport as the manager sees it: start a manager server (unix
 * socket or loopback TCP) plus a client to it, or connect to one; handles of
 * its structures carry the address, the authkey, the server's instance id
 * and the structure's id, and attach through one cached connection per
 * thread. A handle whose server has been replaced (a restart on the same
 * address) is refused with `TransportError("Stale")`.
 * @module
 */
import { Authkey, type Backend, type Handle } from "../../core/backend.ts";
import { TransportError } from "../../errors.ts";
import { toAuthkey } from "../_auth.ts";
import { checkMaxFrameBytes, DEFAULT_MAX_FRAME_BYTES } from "../_frame.ts";
import { HOST_ID } from "../_host.ts";
import { clientFor, connect as connectClient, type SocketClient, structureRemote } from "./client.ts";
import { type ManagerServer, startServer } from "./server.ts";
import { formatTransport, type SocketConfig, type TransportImpl, type TransportProvider } from "../transport.ts";

/** The `via` of socket handles. */
export const VIA = "socket";

/** The remote handle of a structure on a manager server. */
export interface SocketHandle extends Handle {
  readonly via: "socket";
  readonly address: string;
  readonly authkey: Uint8Array;
  /** The random instance id of the server that made the structure (see `EngineHost.instance`). */
  readonly instance: string;
  readonly id: number;
  /** The manager's `maxFrameBytes` when it is not the default, so that every client attaching the handle uses it. */
  readonly maxFrameBytes?: number;
}

class SocketTransport implements TransportImpl {
  readonly authkey: Authkey;
  constructor(
    readonly address: string,
    authkey: Uint8Array,
    readonly client: SocketClient,
    readonly server: ManagerServer | undefined,
    readonly maxFrameBytes: number,
  ) {
    this.authkey = Authkey.wrap(authkey);
  }

  get url(): string {
    return this.address;
  }

  async open(kind: string, name: string | undefined, params: readonly unknown[]): Promise<Handle> {
    // the instance is asked once per connection, pipelined with the first open
    const [{ id }, instance] = await Promise.all([
      this.client.open(kind, name ?? null, params),
      this.client.instance(),
    ]);
    const h: SocketHandle = this.maxFrameBytes === DEFAULT_MAX_FRAME_BYTES
      ? { kind, via: VIA, address: this.address, authkey: this.authkey, instance, id }
      : {
        kind,
        via: VIA,
        address: this.address,
        authkey: this.authkey,
        instance,
        id,
        maxFrameBytes: this.maxFrameBytes,
      };
    return h;
  }

  /** Forgets the name on the server (see `EngineHost.delete`). */
  async delete(name: string): Promise<boolean> {
    return await this.client.call(HOST_ID, "delete", [name]) === true;
  }

  /** Gives back the reference the manager's connection took with `open`, once the handle is attached. */
  release(handle: Handle): void {
    const id = (handle as SocketHandle).id;
    const retained = retaining.get(handle);
    if (retained === undefined) this.client.release(id);
    else retained.then(() => this.client.release(id));
  }

  /** How many structures the server keeps, when it runs in this process. */
  get size(): number | undefined {
    return this.server?.host.size;
  }

  async close(): Promise<void> {
    await this.client.close();
    await this.server?.close();
  }
}

const nothing = (): void => {};
/** The retain an attach sent, by handle: a reference handed over is given back once the new one is taken. */
const retaining = new WeakMap<Handle, Promise<void>>();

/** The socket provider: a manager server on a unix socket or TCP, and clients to it. */
export const provider: TransportProvider = {
  schemes: ["unix", "tcp"],
  via: VIA,
  async start(config, options) {
    const maxFrameBytes = checkMaxFrameBytes(options.maxFrameBytes);
    const server = await startServer({
      address: formatTransport(config as SocketConfig),
      authkey: options.authkey,
      kinds: options.serverKinds ? { ...options.kinds, ...options.serverKinds } : options.kinds,
      maxFrameBytes,
      maxPendingReplyBytes: options.maxPendingReplyBytes,
      frameTimeoutMs: options.frameTimeoutMs,
      maxAnonymous: options.maxAnonymous,
    });
    try {
      const client = await connectClient(server.address, { authkey: server.authkey, maxFrameBytes });
      return new SocketTransport(server.address, server.authkey, client, server, maxFrameBytes);
    } catch (e) {
      await server.close();
      throw e;
    }
  },
  async connect(config, options) {
    const maxFrameBytes = checkMaxFrameBytes(options.maxFrameBytes);
    const client = await connectClient(formatTransport(config), { authkey: options.authkey, maxFrameBytes });
    return new SocketTransport(client.address, toAuthkey(options.authkey), client, undefined, maxFrameBytes);
  },
  async backend<E>(handle: Handle): Promise<Backend<E>> {
    const s = handle as SocketHandle;
    const client = await clientFor(s.address, s.authkey, s.maxFrameBytes);
    // ids start again at 1 on a new server: a handle of an earlier one must not bind to its namesake
    const instance = await client.instance();
    if (s.instance !== instance) {
      throw new TransportError(
        "Stale",
        `Cannot attach ${s.kind} as its manager server has been replaced since the handle was made (connect to the new one and reopen the structure by name): received ${s.address}`,
      );
    }
    // this client's own reference on its connection, given back by close() or when it is collected;
    // not awaited: the calls that follow on the connection come after it (a structure already gone
    // fails them with NotFound), and a reference handed over waits for it (see release)
    retaining.set(handle, client.retain(s.id).catch(nothing));
    return { remote: structureRemote(client, s.id) };
  },
};
