/**
 * Which JavaScript runtime runs this code, and how to start another process
 * of the same runtime on a script. This file and `process/` are the only
 * places that look at `Deno` or `Bun` (STYLE.md §1).
 *
 * @example Starting a child of the same runtime
 * ```ts
 * import { spawn } from "node:child_process";
 * import { runtime, runtimeCommand } from "./runtime.ts";
 * const { command, args } = runtimeCommand(new URL("./child.ts", import.meta.url));
 * console.log(`${runtime}: ${command} ${args.join(" ")}`);
 * const child = spawn(command, [...args], { stdio: "inherit" });
 * child.on("exit", (code) => console.log("child exited with", code));
 * ```
 * @module
 */
import { fileURLToPath } from "node:url";

/**
 * A JavaScript runtime procshare runs on.
 *
 * @example Labelling a measurement
 * ```ts
 * import { runtime, type Runtime } from "./runtime.ts";
 * const label: Record<Runtime, string> = { node: "Node", deno: "Deno", bun: "Bun" };
 * console.log(label[runtime]);
 * ```
 */
export type Runtime = "node" | "deno" | "bun";

interface DenoGlobal {
  readonly version: { readonly deno: string };
}
interface BunGlobal {
  readonly version: string;
}

function detect(): Runtime {
  if ("Deno" in globalThis) return "deno";
  if ("Bun" in globalThis) return "bun";
  return "node";
}

/**
 * The runtime running this code: `"deno"` when `globalThis.Deno` exists,
 * `"bun"` when `globalThis.Bun` exists, `"node"` otherwise (Deno and Bun both
 * also define `process`, so the order of the tests matters).
 *
 * @example Branching on the runtime
 * ```ts
 * import { runtime } from "./runtime.ts";
 * if (runtime === "node") console.log("Node", process.versions.node);
 * ```
 */
export const runtime: Runtime = detect();

/**
 * The version of the running runtime, e.g. `"20.20.2"`, `"2.9.6"`, `"1.4.5"`.
 *
 * @example Naming the runtime in a log line
 * ```ts
 * import { runtime, runtimeVersion } from "./runtime.ts";
 * console.log(`${runtime} ${runtimeVersion()}`);
 * ```
 */
export function runtimeVersion(): string {
  const g = globalThis as { Deno?: DenoGlobal; Bun?: BunGlobal };
  if (runtime === "deno") return g.Deno!.version.deno;
  if (runtime === "bun") return g.Bun!.version;
  return process.versions.node;
}

/**
 * True when a module URL (or path) names a TypeScript file: `.ts`, `.mts`,
 * `.cts` or `.tsx`.
 *
 * @example Deciding whether Node needs the tsx loader
 * ```ts
 * import { isTypeScript } from "./runtime.ts";
 * console.log(isTypeScript(new URL("file:///w/job.ts")), isTypeScript("/w/job.mjs")); // true false
 * ```
 */
export function isTypeScript(url: URL | string): boolean {
  return /\.(?:[cm]?ts|tsx)$/.test(typeof url === "string" ? url : url.pathname);
}

let tsxLoader: string | undefined;

/**
 * The URL of the tsx ESM loader, which Node 20 needs to run TypeScript
 * (`node --import <it> file.ts`), resolved from this package so that a child
 * finds it whatever its working directory. Throws a `TypeError` when tsx is
 * not installed.
 *
 * @example Finding the loader a Node child needs
 * ```ts
 * import { runtime, tsxLoaderUrl } from "./runtime.ts";
 * if (runtime === "node") console.log(tsxLoaderUrl());
 * ```
 */
export function tsxLoaderUrl(): string {
  if (tsxLoader === undefined) {
    try {
      tsxLoader = import.meta.resolve("tsx");
    } catch (e) {
      throw new TypeError(
        `Cannot run TypeScript on Node ${process.versions.node} as the 'tsx' package is not installed: received ${
          (e as Error).message
        }`,
        { cause: e },
      );
    }
  }
  return tsxLoader;
}

/**
 * A command line: the executable and its arguments.
 *
 * @example Printing a command line
 * ```ts
 * import type { RuntimeCommand } from "./runtime.ts";
 * const c: RuntimeCommand = { command: "/usr/bin/node", args: ["job.mjs"] };
 * console.log([c.command, ...c.args].join(" "));
 * ```
 */
export interface RuntimeCommand {
  /** Absolute path of the runtime's executable (`process.execPath`). */
  readonly command: string;
  /** The arguments, ending with the script's path. */
  readonly args: readonly string[];
}

/**
 * The command that runs `script` in a new process of the *same* runtime:
 * `node --import <tsx loader> script` (the tsx loader only for TypeScript),
 * `deno run -A script`, or `bun script`. `options.typescript` asks for the
 * loader even when the script itself is JavaScript (it imports TypeScript);
 * by default the script's extension decides. Flags of the current process are not
 * passed on: a test runner's flags must not reach the child.
 *
 * @example Running a TypeScript file in a child of this runtime
 * ```ts
 * import { execFileSync } from "node:child_process";
 * import { runtimeCommand } from "./runtime.ts";
 * const { command, args } = runtimeCommand(new URL("./hello.ts", import.meta.url));
 * execFileSync(command, args, { stdio: "inherit" });
 * ```
 */
export function runtimeCommand(script: URL, options?: { readonly typescript?: boolean }): RuntimeCommand {
  const path = fileURLToPath(script);
  const typescript = options?.typescript ?? isTypeScript(script);
  const command = process.execPath;
  switch (runtime) {
    case "deno":
      return { command, args: ["run", "-A", path] };
    case "bun":
      return { command, args: [path] };
    case "node":
      return { command, args: typescript ? ["--import", tsxLoaderUrl(), path] : [path] };
  }
}
