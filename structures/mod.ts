/**
 * Shared structures: Dict and Queue (more in later releases).
 * @module
 */
export { Dict, type DictOptions, type DictUpdate } from "./dict.ts";
export { Queue, type QueueOptions } from "./queue.ts";
