/**
 * The first module of the child process that `Manager.start({ serve:
 * "process" })` starts (see `_serve_process.ts`). On stdin, one JSON line
 * ({@linkcode ServeChildConfig}: the address, the authkey in hex — never on
 * argv, where `ps` shows it — and the server's limits); then stdin stays open
 * for as long as the starter lives, and its end says the starter is gone. On
 * stdout, one JSON line ({@linkcode ServeChildReady}): the bound address, or
 * why the server could not start. The process exits 0 once the server has
 * stopped: `shutdown` from a client, SIGINT/SIGTERM, or the orphan policy.
 *
 * @example The line the starter writes
 * ```ts
 * import type { ServeChildConfig } from "./_serve_child.ts";
 * const line: ServeChildConfig = { address: "unix:/tmp/app.sock", authkey: "ab".repeat(32), orphanTimeoutMs: 60_000 };
 * console.log(JSON.stringify(line));
 * ```
 * @module
 */
import { KINDS } from "../../kinds.ts";
import { customSpec, loadTypes } from "../../structures/custom.ts";
import { serve, stopOnSignals } from "./_serve.ts";

/**
 * What the starter sends on the child's stdin, as one JSON line.
 *
 * @example
 * ```ts
 * import type { ServeChildConfig } from "./_serve_child.ts";
 * const c: ServeChildConfig = { address: "tcp://127.0.0.1:0", authkey: "00ff", orphanTimeoutMs: 1000 };
 * ```
 */
export interface ServeChildConfig {
  readonly address: string;
  /** The authkey's bytes in hex. */
  readonly authkey: string;
  /** Milliseconds without a client, once the starter is gone, before the server stops; `null` for never (JSON has no Infinity). */
  readonly orphanTimeoutMs: number | null;
  readonly maxFrameBytes?: number;
  readonly maxPendingReplyBytes?: number;
  readonly frameTimeoutMs?: number;
  readonly maxAnonymous?: number;
  /** Custom types to serve: name → URL of a module whose default export is the class (a class cannot cross). */
  readonly types?: Readonly<Record<string, string>>;
}

/**
 * What the child answers on stdout, as one JSON line.
 *
 * @example
 * ```ts
 * import type { ServeChildReady } from "./_serve_child.ts";
 * const ok: ServeChildReady = { address: "unix:/tmp/app.sock" };
 * const failed: ServeChildReady = { error: { name: "TransportError", reason: "Connect", message: "Cannot start manager as …" } };
 * ```
 */
export type ServeChildReady =
  | { readonly address: string }
  | { readonly error: { readonly name: string; readonly reason?: string; readonly message: string } };

// the starter stops reading after the ready line, and may die: a later write must not crash the server
process.stdout.on("error", () => {});

function send(line: ServeChildReady): void {
  process.stdout.write(JSON.stringify(line) + "\n");
}

/** The types' URLs, as `loadTypes` takes them. */
function typeUrls(types: Readonly<Record<string, string>> | undefined): Record<string, URL> {
  return Object.fromEntries(Object.entries(types ?? {}).map(([name, href]) => [name, new URL(href)]));
}

function fromHex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** The first line of stdin; `gone` settles when stdin ends after it (the starter died or let go). */
function readConfig(): { config: Promise<string>; gone: Promise<void> } {
  let buffered = "";
  let resolveConfig!: (line: string) => void;
  let rejectConfig!: (e: Error) => void;
  let resolveGone!: () => void;
  let haveLine = false;
  const config = new Promise<string>((resolve, reject) => {
    resolveConfig = resolve;
    rejectConfig = reject;
  });
  const gone = new Promise<void>((resolve) => (resolveGone = resolve));
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk: string) => {
    if (haveLine) return;
    buffered += chunk;
    const nl = buffered.indexOf("\n");
    if (nl < 0) return;
    haveLine = true;
    resolveConfig(buffered.slice(0, nl));
    buffered = "";
  });
  const ended = () => {
    if (!haveLine) rejectConfig(new Error("Cannot start manager server as stdin ended before its configuration"));
    resolveGone();
  };
  process.stdin.on("end", ended);
  process.stdin.on("close", ended);
  process.stdin.on("error", ended);
  return { config, gone };
}

const { config: configLine, gone } = readConfig();
let config: ServeChildConfig;
try {
  config = JSON.parse(await configLine) as ServeChildConfig;
} catch (e) {
  send({ error: { name: "TypeError", message: (e as Error).message } });
  process.exit(1);
}
try {
  const server = await serve({
    address: config.address,
    authkey: fromHex(config.authkey),
    kinds: { ...KINDS, custom: customSpec(await loadTypes(typeUrls(config.types))) },
    maxFrameBytes: config.maxFrameBytes,
    maxPendingReplyBytes: config.maxPendingReplyBytes,
    frameTimeoutMs: config.frameTimeoutMs,
    maxAnonymous: config.maxAnonymous,
  });
  stopOnSignals(server);
  void gone.then(() => server.orphan(config.orphanTimeoutMs ?? Infinity));
  send({ address: server.address });
  await server.closed;
  process.exit(0);
} catch (e) {
  const err = e as { name?: string; reason?: string; message?: string };
  send({ error: { name: String(err?.name ?? "Error"), reason: err?.reason, message: String(err?.message ?? e) } });
  process.exit(1);
}
