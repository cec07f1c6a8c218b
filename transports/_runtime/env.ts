/**
 * Environment access for every runtime (Node, Deno and Bun all provide
 * `process.env` to npm-style code; this is the one place that reads it).
 * @module
 */
declare const process: { env: Record<string, string | undefined> } | undefined;

/** The value of an environment variable, or undefined. */
export function getEnv(name: string): string | undefined {
  try {
    return typeof process !== "undefined" ? process.env[name] : undefined;
  } catch {
    return undefined; // e.g. Deno without --allow-env
  }
}
