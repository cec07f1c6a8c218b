/**
 * Environment access for every runtime (Node, Deno and Bun all provide
 * `process.env` and `process.platform` to npm-style code; this is the one
 * place that reads them).
 * @module
 */
declare const process: { env: Record<string, string | undefined>; platform?: string } | undefined;

/** Variables whose denied read was already reported. */
const warned = new Set<string>();

/**
 * The value of an environment variable, or undefined when it is unset.
 *
 * A read the runtime denies (Deno without `--allow-env`) counts as unset, and
 * is reported once per variable with `console.warn`, naming the permission to
 * grant (`--allow-env=PROCSHARE_TRANSPORT`): a setting is never ignored
 * silently.
 *
 * @example Reading the transport setting
 * ```ts
 * import { getEnv } from "./env.ts";
 * console.log(getEnv("PROCSHARE_TRANSPORT") ?? "shared-buffer:");
 * ```
 */
export function getEnv(name: string): string | undefined {
  if (typeof process === "undefined") return undefined;
  try {
    return process.env[name];
  } catch (e) {
    if (!warned.has(name)) {
      warned.add(name);
      console.warn(
        `procshare: Cannot read ${name} as environment access is denied, so it is ignored ` +
          `(on Deno, run with --allow-env=${name}): received ${(e as Error)?.name ?? String(e)}`,
      );
    }
    return undefined;
  }
}

/**
 * The operating system, as Node names it (`"linux"`, `"darwin"`, `"win32"`,
 * …; Deno and Bun give the same names), or `""` where it is unknown.
 *
 * @example
 * ```ts
 * import { platform } from "./env.ts";
 * console.log(platform()); // linux
 * ```
 */
export function platform(): string {
  return typeof process !== "undefined" && typeof process.platform === "string" ? process.platform : "";
}
