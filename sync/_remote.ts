/**
 * TRANSITIONAL re-export; the types live in `core/backend.ts`.
 * @module
 */
export { isAbort, type Remote } from "../core/backend.ts";
