/**
 * Shared structures.
 * @module
 */
export { Dict, type DictOptions, type DictUpdate } from "./dict.ts";
export { Queue, type QueueOptions } from "./queue.ts";
export { JoinableQueue } from "./joinable_queue.ts";
export { SimpleQueue } from "./simple_queue.ts";
export { type Attributes, Namespace } from "./namespace.ts";
