/**
 * Socket addresses: `unix:/path` or `tcp://host:port`. The URL is parsed by
 * {@linkcode parseTransport}, the one parser of transport URLs; this file
 * only checks that what it gave is a socket address, and formats one back.
 *
 * @example From a URL and back
 * ```ts
 * import { formatAddress, socketAddress } from "./address.ts";
 * const a = socketAddress("tcp://[::1]:7070");
 * console.log(a); // { kind: "tcp", host: "::1", port: 7070 }
 * console.log(formatAddress(a)); // tcp://[::1]:7070
 * ```
 * @module
 */
import { TransportError } from "../../errors.ts";
import { platform } from "../_runtime/env.ts";
import { pathKind } from "../_runtime/net.ts";
import { formatTransport, parseTransport, type SocketConfig } from "../transport.ts";

/**
 * Longest unix socket path the platform can bind or connect to, in bytes of
 * UTF-8: `sun_path` holds 108 bytes on Linux (and Windows), 104 on macOS and
 * the BSDs, the terminating NUL included. A longer path would be cut short
 * by the kernel (Node binds the truncated path) or refused with `EINVAL`.
 *
 * @example
 * ```ts
 * import { UNIX_PATH_MAX_BYTES } from "./address.ts";
 * console.log(UNIX_PATH_MAX_BYTES); // 107 on Linux
 * ```
 */
export const UNIX_PATH_MAX_BYTES: number = ["darwin", "freebsd", "openbsd", "netbsd"].includes(platform()) ? 103 : 107;

/**
 * Refuses a unix socket path over {@linkcode UNIX_PATH_MAX_BYTES} with
 * `TransportError("BadUrl")`, before anything is bound or created.
 *
 * @example
 * ```ts
 * import { checkUnixPath } from "./address.ts";
 * checkUnixPath("/tmp/app.sock"); // fine
 * try { checkUnixPath(`/tmp/${"x".repeat(200)}.sock`); } catch (e) { console.log((e as Error).name); } // TransportError
 * ```
 */
export function checkUnixPath(path: string): void {
  const bytes = new TextEncoder().encode(path).length;
  if (bytes > UNIX_PATH_MAX_BYTES) {
    throw new TransportError(
      "BadUrl",
      `Cannot use unix socket path as it is ${bytes} bytes, over the limit of ${UNIX_PATH_MAX_BYTES} bytes ` +
        `on ${platform() || "this platform"} (sun_path holds ${
          UNIX_PATH_MAX_BYTES + 1
        } with its NUL): received ${path}`,
    );
  }
}

/**
 * A parsed socket address: a unix socket path, or a TCP host and port (port 0
 * asks a server for a free one).
 *
 * @example
 * ```ts
 * import type { SocketAddress } from "./address.ts";
 * const a: SocketAddress = { kind: "tcp", host: "127.0.0.1", port: 7070 };
 * ```
 */
export type SocketAddress = SocketConfig;

/**
 * The socket address of a URL (`unix:/path`, `unix:///path`, relative
 * `unix:name.sock`, `tcp://host:port`, IPv6 hosts in brackets) or of an
 * already parsed config. Anything else — another scheme, an empty or NUL-laden
 * path, a path over {@linkcode UNIX_PATH_MAX_BYTES}, a port out of range — is
 * a `TransportError("BadUrl")`.
 *
 * @example Both forms
 * ```ts
 * import { socketAddress } from "./address.ts";
 * console.log(socketAddress("unix:/tmp/app.sock")); // { kind: "unix", path: "/tmp/app.sock" }
 * console.log(socketAddress({ kind: "tcp", host: "127.0.0.1", port: 0 })); // { kind: "tcp", host: "127.0.0.1", port: 0 }
 * ```
 */
export function socketAddress(address: string | SocketConfig): SocketAddress {
  if (typeof address !== "string" && (typeof address !== "object" || address === null)) {
    throw new TransportError("BadUrl", `Cannot parse socket address as it is not a string: received ${typeof address}`);
  }
  const config = parseTransport(address);
  if (config.kind === "unix") {
    if (typeof config.path !== "string" || config.path.length === 0 || config.path.includes("\0")) {
      throw new TransportError(
        "BadUrl",
        `Cannot parse socket address as its path is empty or invalid: received ${String(config.path)}`,
      );
    }
    checkUnixPath(config.path);
    return { kind: "unix", path: config.path };
  }
  if (config.kind === "tcp") {
    const { host, port } = config;
    if (typeof host !== "string" || host.length === 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new TransportError(
        "BadUrl",
        `Cannot parse socket address as its host or port is invalid: received ${String(host)}:${String(port)}`,
      );
    }
    return { kind: "tcp", host, port };
  }
  throw new TransportError(
    "BadUrl",
    `Cannot parse socket address as it is neither unix:/path nor tcp://host:port: received ${formatTransport(config)}`,
  );
}

/**
 * The directory of a unix socket path when that directory does not exist,
 * else undefined: what a failed listen or connect is blamed on before the
 * runtime's own code (`ENOENT`, or `EACCES` from Node's listen) is.
 *
 * @example
 * ```ts
 * import { missingDirectory } from "./address.ts";
 * console.log(await missingDirectory("/no/such/dir/app.sock")); // /no/such/dir
 * console.log(await missingDirectory("/tmp/app.sock")); // undefined
 * ```
 */
export async function missingDirectory(path: string): Promise<string | undefined> {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  if (cut < 0) return undefined; // the current directory
  const dir = path.slice(0, cut) || path.slice(0, 1);
  try {
    return (await pathKind(dir)) === "missing" ? dir : undefined;
  } catch {
    return undefined; // not ours to diagnose (EACCES, ENOTDIR): the caller reports its own error
  }
}

/**
 * The URL of a socket address, as {@linkcode socketAddress} reads it.
 *
 * @example
 * ```ts
 * import { formatAddress } from "./address.ts";
 * console.log(formatAddress({ kind: "tcp", host: "::1", port: 80 })); // tcp://[::1]:80
 * ```
 */
export function formatAddress(address: SocketAddress): string {
  return formatTransport(address);
}

/**
 * True for a host that only this machine can reach: `localhost`, `::1` or
 * `127.x.y.z`. A server refuses any other TCP host unless told `allowRemote`.
 *
 * @example
 * ```ts
 * import { isLoopback } from "./address.ts";
 * console.log(isLoopback("127.0.0.1"), isLoopback("0.0.0.0")); // true false
 * ```
 */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
