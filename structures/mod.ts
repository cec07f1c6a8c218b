/**
 * Shared structures.
 * @module
 */
export { Dict, type DictOptions, type DictUpdate } from "./dict.ts";
export { Queue, type QueueOptions } from "./queue.ts";
export { JoinableQueue } from "./joinable_queue.ts";
export { SimpleQueue } from "./simple_queue.ts";
export { type Attributes, Namespace } from "./namespace.ts";
export { type Custom, type CustomClass, CustomObject, type CustomType } from "./custom.ts";
export { RawValue, Value, type ValueOptions } from "./value.ts";
export { type ArrayOptions, RawArray, SharedArray } from "./array.ts";
export {
  type AttachOptions,
  SharedMemory,
  type SharedMemoryCreateOptions,
  SharedMemoryError,
  type SharedMemoryErrorReason,
} from "./shared_memory.ts";
export { type ShareableItem, ShareableList, type ShareableListOptions } from "./shareable_list.ts";
export type {
  AnyTypedArray,
  ElementOf,
  InputOf,
  PythonTypeCode,
  TypeCode,
  TypedArrayOf,
  TypeName,
} from "./_typecodes.ts";
export { List, type ListOptions } from "./list.ts";
export { type SetOperand, type SetOptions, SharedSet } from "./set.ts";
