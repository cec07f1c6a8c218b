/**
 * The transports procshare has, by URL scheme and by the `via` of their
 * handles. Each provider is loaded on first use, so the socket code is never
 * loaded by a program that only uses the shared buffer. Adding a transport is
 * one provider file plus one line here.
 * @module
 */
import { TransportError } from "../errors.ts";
import type { TransportProvider } from "./transport.ts";

type Load = () => Promise<TransportProvider>;

const sharedBuffer: Load = async () => (await import("./shared_buffer.ts")).provider;
const socket: Load = async () => (await import("./socket/provider.ts")).provider;

/** Providers by URL scheme. */
const BY_SCHEME: Readonly<Record<string, Load>> = {
  "shared-buffer": sharedBuffer,
  unix: socket,
  tcp: socket,
};

/** Providers by the `via` of their handles. */
const BY_VIA: Readonly<Record<string, Load>> = {
  "shared-buffer": sharedBuffer,
  socket,
};

/** Schemes that are parsed but not built yet. */
const PLANNED = ["pipe", "redis", "shm"];

/** The provider of a URL scheme, or `TransportError("Unsupported")`. */
export function providerFor(scheme: string): Promise<TransportProvider> {
  if (Object.hasOwn(BY_SCHEME, scheme)) return BY_SCHEME[scheme]();
  const known = Object.keys(BY_SCHEME).map((s) => `${s}:`).join(", ");
  return Promise.reject(
    new TransportError(
      "Unsupported",
      PLANNED.includes(scheme)
        ? `Cannot use the '${scheme}' transport as it is not available yet: use one of ${known}`
        : `Cannot use transport '${scheme}' as it is unknown: use one of ${known}`,
    ),
  );
}

/** The provider of a handle's `via`, or a typed error. */
export function providerOfVia(via: string): Promise<TransportProvider> {
  if (Object.hasOwn(BY_VIA, via)) return BY_VIA[via]();
  return Promise.reject(new TypeError(`Cannot attach as transport '${via}' is unknown`));
}
