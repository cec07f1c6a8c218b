/**
 * What the `shm:` tests share (not a test file): the command that runs a
 * fixture in this runtime or in a named one, a child process whose JSON
 * lines are read (the first one as soon as it is printed, all of them once
 * it exited), and the FFI plus the regions a test file makes, unlinked and
 * closed when the file's tests are done.
 * @module
 */
import { after, before } from "node:test";
import process from "node:process";
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type Ffi, loadFfi } from "../../transports/shm/_ffi.ts";
import { ShmRegion } from "../../transports/shm/_region.ts";
import { runtime, runtimeCommand } from "../../transports/_runtime/runtime.ts";

/** The repository's root folder (children run there). */
export const ROOT: string = fileURLToPath(new URL("../../", import.meta.url));
/** Where the runtimes' binaries are (deno and bun come from npm). */
export const BIN = `${ROOT}node_modules/.bin`;

/** A runtime by name, or "self": the one running the tests. */
export type Which = "node" | "deno" | "bun" | "self";

/** A command line. */
export interface Command {
  readonly command: string;
  readonly args: readonly string[];
}

/**
 * The command that runs `script` in `which` runtime; Deno gets `denoFlags`
 * (default `-A`) before the script, also when it is "self"; a "node" gets
 * `nodeFlags` after tsx's `--import`.
 */
export function commandOf(
  which: Which,
  script: URL | string,
  denoFlags: readonly string[] = ["-A"],
  nodeFlags: readonly string[] = [],
): Command {
  const path = script instanceof URL ? fileURLToPath(script) : script;
  if (which === "self") {
    if (runtime === "deno") return { command: process.execPath, args: ["run", ...denoFlags, path] };
    return runtimeCommand(script instanceof URL ? script : pathToFileURL(path));
  }
  switch (which) {
    case "node":
      return {
        command: runtime === "node" ? process.execPath : "node",
        args: ["--import", "tsx", ...nodeFlags, path],
      };
    case "deno":
      return { command: `${BIN}/deno`, args: ["run", ...denoFlags, path] };
    case "bun":
      return { command: `${BIN}/bun`, args: [path] };
  }
}

/** How {@linkcode child} runs a fixture. */
export interface ChildOptions {
  /** The runtime (default "self"). */
  readonly which?: Which;
  /** Deno's flags (default `-A`). */
  readonly denoFlags?: readonly string[];
  /** Node's flags, after tsx's `--import` (which "node" only). */
  readonly nodeFlags?: readonly string[];
  /** Killed with SIGKILL after this long (default 30 s): a hang fails rather than stalls. */
  readonly limitMs?: number;
  /** Where the child's stderr goes: read into error messages (default), or this process's. */
  readonly stderr?: "pipe" | "inherit";
}

/** A running fixture. */
export interface Child {
  readonly process: ChildProcess;
  /** The first JSON line printed; rejects if the child ends before printing one. */
  readonly first: Promise<Record<string, unknown>>;
  /** Every JSON line, once the child exited 0; rejects with its stderr otherwise. */
  readonly done: Promise<{ code: number | null; signal: string | null; lines: Record<string, unknown>[] }>;
  /** Resolves once the child exited and was reaped, however it ended. */
  readonly closed: Promise<{ code: number | null; signal: string | null }>;
}

/** Starts `script` with `args` in a child process (see {@linkcode ChildOptions}). */
export function child(script: URL | string, args: readonly (string | number)[], options: ChildOptions = {}): Child {
  const which = options.which ?? "self";
  const { command, args: base } = commandOf(which, script, options.denoFlags, options.nodeFlags);
  const argv = args.map(String);
  const c = spawn(command, [...base, ...argv], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", options.stderr ?? "pipe"],
  });
  const killer = setTimeout(() => c.kill("SIGKILL"), options.limitMs ?? 30_000);
  let out = "";
  let err = "";
  let firstLine: (v: Record<string, unknown>) => void;
  let noLine: (e: Error) => void;
  const first = new Promise<Record<string, unknown>>((resolve, reject) => {
    firstLine = resolve;
    noLine = reject;
  });
  c.stdout!.on("data", (d) => {
    out += d;
    const nl = out.indexOf("\n");
    if (nl >= 0) firstLine(JSON.parse(out.slice(0, nl)));
  });
  c.stderr?.on("data", (d) => err += d);
  const closed = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    c.on("close", (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal });
    });
  });
  const label = `${which} ${argv.join(" ")}`;
  const done = new Promise<{ code: number | null; signal: string | null; lines: Record<string, unknown>[] }>(
    (resolve, reject) => {
      c.on("error", reject);
      closed.then(({ code, signal }) => {
        noLine(new Error(`${label} exited with ${code ?? signal} before printing a line: ${err || out}`));
        if (code !== 0) {
          reject(new Error(`${label} exited with ${code ?? signal}: ${err || out}`));
          return;
        }
        const lines = out.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
        resolve({ code, signal, lines });
      });
    },
  );
  // a child killed on purpose, or one only waited for its first line, rejects where nobody listens
  first.catch(() => {});
  done.catch(() => {});
  return { process: c, first, done, closed };
}

/** Runs `script` to its end; resolves with its last JSON line once it exited 0. */
export async function run(
  script: URL | string,
  args: readonly (string | number)[],
  options?: ChildOptions,
): Promise<Record<string, unknown>> {
  const { lines } = await child(script, args, options).done;
  return lines.at(-1)!;
}

/** The FFI and the regions of a test file. */
export interface ShmFixture {
  /** This runtime's FFI (loaded before the file's first test). */
  readonly ffi: Ffi;
  /** A new region, committed whole by default; unlinked and closed after the file's tests. */
  region(options?: { readonly maxBytes?: number; readonly initialBytes?: number }): ShmRegion;
  /** Unlinks and closes `r` after the file's tests. */
  track(r: ShmRegion): ShmRegion;
}

/**
 * Loads the FFI before the file's tests (then calls `loaded` with it) and cleans up its regions after them
 * (call at the top level).
 */
export function useShm(loaded?: (ffi: Ffi) => void): ShmFixture {
  let ffi: Ffi | undefined;
  const made: ShmRegion[] = [];
  before(async () => {
    ffi = await loadFfi();
    loaded?.(ffi);
  });
  after(() => {
    for (const r of made) {
      try {
        r.unlink();
        r.close();
      } catch {
        // already gone
      }
    }
  });
  const fixture: ShmFixture = {
    get ffi(): Ffi {
      if (ffi === undefined) throw new Error("the FFI is loaded before the first test");
      return ffi;
    },
    region({ maxBytes = 4096, initialBytes = maxBytes } = {}) {
      return fixture.track(ShmRegion.create(fixture.ffi, { maxBytes, initialBytes }));
    },
    track(r) {
      made.push(r);
      return r;
    },
  };
  return fixture;
}
