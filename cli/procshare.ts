#!/usr/bin/env node
/**
 * `procshare`, the command line (issue 10 item 6): `procshare serve ADDRESS`
 * runs a standalone manager server — Python's
 * `BaseManager(address, authkey).get_server().serve_forever()` — that
 * programs join with `Manager.connect(address, { authkey })`.
 *
 * Installed as the package's `bin` (`npx procshare serve unix:/run/app.sock`);
 * from a checkout, `deno run -A cli/procshare.ts …` or `bun cli/procshare.ts …`.
 * Exit codes: 0 after a clean stop (SIGINT, SIGTERM, or a client's
 * `shutdown({ server: true })`), 1 when the server cannot start, 2 for a usage error.
 *
 * @example Serving from a program (as the command does)
 * ```ts
 * import { main } from "./procshare.ts";
 * const code = await main(["--help"]);
 * console.log(code); // 0
 * ```
 * @module
 */
import { realpathSync } from "node:fs";
import { chmod, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { KINDS } from "../kinds.ts";
import { customSpec, loadTypes } from "../structures/custom.ts";
import { randomAuthkey } from "../transports/_auth.ts";
import { socketAddress } from "../transports/socket/address.ts";
import { serve, stopOnSignals } from "../transports/socket/_serve.ts";

/**
 * What `procshare --help` prints.
 *
 * @example
 * ```ts
 * import { USAGE } from "./procshare.ts";
 * console.log(USAGE.split("\n")[0]);
 * ```
 */
export const USAGE = `Usage: procshare serve ADDRESS [options]

Runs a procshare manager server until SIGINT or SIGTERM (or a client's
shutdown({ server: true })); programs join it with
  await Manager.connect(ADDRESS, { authkey })

ADDRESS
  unix:/path/app.sock        a unix socket (made 0600; removed at exit)
  tcp://127.0.0.1:7070       a TCP port on loopback (port 0: any free port)

Authkey
  PROCSHARE_AUTHKEY=<hex>    the key, as hex digits (e.g. a manager's authkey.toHex())
  otherwise a random 32-byte key is written, as hex, to a 0600 key file
  (removed at exit): --key-file, else ADDRESS's path + ".key" for a unix
  socket, else procshare-<pid>.key in the temporary directory. A client reads it:
    Manager.connect(ADDRESS, { authkey: (await readFile(keyFile, "utf8")).trim() })

Options
  --key-file PATH            where a generated key is written
  --max-frame-bytes N        largest message either way (default 67108864);
                             clients pass the same maxFrameBytes
  --allow-remote             allow a TCP address that is not loopback
  --types NAME=MODULE        serve a custom type: the module's default export (a
                             class), made with m.custom("NAME", args); MODULE is a
                             path (relative to the current directory) or a URL;
                             repeat for more types
  -h, --help                 this text

Prints "procshare: serving on ADDRESS" (the bound address) once listening,
and "procshare: authkey in PATH" when it wrote a key file.
Exit codes: 0 stopped cleanly, 1 could not start, 2 usage error.`;

class UsageError extends Error {}

interface ServeArgs {
  readonly address: string;
  readonly keyFile?: string;
  readonly maxFrameBytes?: number;
  readonly allowRemote: boolean;
  /** Custom types: name → module URL. */
  readonly types: Readonly<Record<string, URL>>;
}

function parseServe(argv: readonly string[]): ServeArgs {
  let address: string | undefined;
  let keyFile: string | undefined;
  let maxFrameBytes: number | undefined;
  let allowRemote = false;
  const types: Record<string, URL> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`Cannot parse ${a} as its value is missing: received nothing`);
      return v;
    };
    if (a === "--key-file") keyFile = value();
    else if (a === "--max-frame-bytes") {
      const v = value();
      maxFrameBytes = Number(v);
      if (!/^\d+$/.test(v) || !Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1) {
        throw new UsageError(`Cannot parse --max-frame-bytes as it must be a positive integer: received ${v}`);
      }
    } else if (a === "--allow-remote") allowRemote = true;
    else if (a === "--types") {
      const v = value();
      const eq = v.indexOf("=");
      if (eq < 1 || eq === v.length - 1) {
        throw new UsageError(`Cannot parse --types as it must be NAME=MODULE: received ${v}`);
      }
      const module = v.slice(eq + 1);
      types[v.slice(0, eq)] = /^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module)
        ? new URL(module)
        : pathToFileURL(resolve(module));
    } else if (a.startsWith("-")) throw new UsageError(`Cannot parse option as it is unknown: received ${a}`);
    else if (address === undefined) address = a;
    else throw new UsageError(`Cannot parse arguments as only one address is served: received ${a}`);
  }
  if (address === undefined) throw new UsageError("Cannot serve as the address is missing: received nothing");
  return { address, keyFile, maxFrameBytes, allowRemote, types };
}

function authkeyFromEnv(): Uint8Array | undefined {
  const hex = process.env.PROCSHARE_AUTHKEY;
  if (hex === undefined || hex === "") return undefined;
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) {
    // the digits are a secret: only their count is told
    throw new UsageError(
      `Cannot use PROCSHARE_AUTHKEY as it must be an even number of hex digits: received ${hex.length} characters`,
    );
  }
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

async function runServe(argv: readonly string[]): Promise<number> {
  let args: ServeArgs;
  let authkey: Uint8Array | undefined;
  let target: ReturnType<typeof socketAddress>;
  try {
    args = parseServe(argv);
    target = socketAddress(args.address);
    authkey = authkeyFromEnv();
  } catch (e) {
    console.error(`procshare serve: ${(e as Error).message}\nRun procshare --help for the usage.`);
    return 2;
  }
  let keyFile: string | undefined;
  if (authkey === undefined) {
    authkey = randomAuthkey();
    keyFile = args.keyFile ??
      (target.kind === "unix" ? `${target.path}.key` : join(tmpdir(), `procshare-${process.pid}.key`));
  }
  let server;
  try {
    server = await serve({
      address: target,
      authkey,
      kinds: { ...KINDS, custom: customSpec(await loadTypes(args.types)) },
      maxFrameBytes: args.maxFrameBytes,
      allowRemote: args.allowRemote,
    });
  } catch (e) {
    console.error(`procshare serve: ${(e as Error).message}`);
    return 1;
  }
  const forget = stopOnSignals(server);
  if (keyFile !== undefined) {
    try {
      await rm(keyFile, { force: true }); // a mode applies only to a file created now
      await writeFile(keyFile, toHex(authkey) + "\n", { mode: 0o600, flag: "wx" });
      await chmod(keyFile, 0o600);
    } catch (e) {
      console.error(`procshare serve: Cannot write the key file as it failed: received ${(e as Error).message}`);
      await server.close();
      forget();
      return 1;
    }
  }
  console.log(`procshare: serving on ${server.address}`);
  if (keyFile !== undefined) console.log(`procshare: authkey in ${keyFile}`);
  await server.closed;
  forget();
  if (keyFile !== undefined) await rm(keyFile, { force: true });
  console.log("procshare: stopped");
  return 0;
}

/**
 * Runs the command line `argv` (without the runtime and script) and resolves
 * with the exit code; `serve` resolves only once the server has stopped.
 *
 * @example
 * ```ts
 * import { main } from "./procshare.ts";
 * console.log(await main(["frobnicate"])); // 2
 * ```
 */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "-h" || command === "--help" || command === "help") {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === "serve") {
    if (rest.includes("-h") || rest.includes("--help")) {
      console.log(USAGE);
      return 0;
    }
    return await runServe(rest);
  }
  console.error(
    `procshare: Cannot run command as it is unknown: received ${command}\nRun procshare --help for the usage.`,
  );
  return 2;
}

function isMain(): boolean {
  const meta = import.meta as ImportMeta & { main?: boolean };
  if (typeof meta.main === "boolean") return meta.main; // Deno, Bun
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    // node: the script as run (maybe a symlink, as npm's bin links are)
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) process.exitCode = await main(process.argv.slice(2));
