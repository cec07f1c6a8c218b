/**
 * THE table of kinds: every structure and primitive procshare has, each one
 * spec (`core/structure.ts`). The manager hands it to transports, `attach`
 * looks kinds up in it. Adding a kind is one file, one line here, an export
 * and a factory.
 * @module
 */
import type { Kinds } from "./core/structure.ts";
import { eventSpec } from "./sync/event.ts";
// TRANSITIONAL: kinds not yet converted register themselves by import
import "./structures/mod.ts";
import "./sync/mod.ts";

/** Every kind, by the name its handles carry. */
export const KINDS = {
  event: eventSpec,
} as const satisfies Kinds;

/** The name of a kind. */
export type KindName = keyof typeof KINDS;
