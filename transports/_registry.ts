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

/** One transport: the URL schemes it serves, the `via` of its handles, and its provider, loaded on first use. */
interface Entry {
  readonly schemes: readonly string[];
  readonly via: string;
  readonly load: Load;
}

/** The load, once: a dynamic import per attach costs a round trip to a loader hook thread on Node with tsx. */
function once(load: Load): Load {
  let p: Promise<TransportProvider> | undefined;
  return () =>
    p ??= load().catch((e) => {
      p = undefined; // a failed load is tried again next time
      throw e;
    });
}

/** The transports, one line each. */
const TRANSPORTS: readonly Entry[] = [
  {
    schemes: ["shared-buffer"],
    via: "shared-buffer",
    load: once(async () => (await import("./shared_buffer.ts")).provider),
  },
  { schemes: ["unix", "tcp"], via: "socket", load: once(async () => (await import("./socket/provider.ts")).provider) },
  { schemes: ["shm"], via: "shm", load: once(async () => (await import("./shm/provider.ts")).provider) },
  { schemes: ["pipe"], via: "pipe", load: once(async () => (await import("./pipe/provider.ts")).provider) },
];

const BY_SCHEME: ReadonlyMap<string, Load> = new Map(TRANSPORTS.flatMap((t) => t.schemes.map((s) => [s, t.load])));
const BY_VIA: ReadonlyMap<string, Load> = new Map(TRANSPORTS.map((t) => [t.via, t.load]));

/** Schemes that are parsed but not built yet. */
const PLANNED = ["redis"];

/** The provider of a URL scheme, or `TransportError("Unsupported")`. */
export function providerFor(scheme: string): Promise<TransportProvider> {
  const load = BY_SCHEME.get(scheme);
  if (load) return load();
  const known = [...BY_SCHEME.keys()].map((s) => `${s}:`).join(", ");
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
  const load = BY_VIA.get(via);
  if (load) return load();
  return Promise.reject(new TypeError(`Cannot attach as transport '${via}' is unknown`));
}
