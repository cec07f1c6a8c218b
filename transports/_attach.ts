/**
 * TRANSITIONAL: the registry of kinds not yet converted to specs
 * (`core/structure.ts`); removed once every kind is in `kinds.ts`.
 * @module
 */
import type { Handle, Remote } from "../core/backend.ts";

export type { Handle, HasHandle } from "../core/backend.ts";
export { isHandle } from "../core/backend.ts";

/** How one structure kind's public object is built on each side. */
export interface StructureKind {
  fromLocal(handle: Handle): unknown;
  fromRemote(handle: Handle, remote: Remote): unknown;
}
const structures = new Map<string, StructureKind>();

/** Registers a structure kind's constructors (called by each structure module). */
export function registerStructure(kind: string, k: StructureKind): void {
  structures.set(kind, k);
}

/** The constructors of a structure kind, or a typed error. */
export function structureOf(kind: string): StructureKind {
  const k = structures.get(kind);
  if (!k) throw new TypeError(`Cannot attach structure as its kind is unknown: received ${kind}`);
  return k;
}
