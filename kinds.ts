/**
 * THE table of kinds: every structure and primitive procshare has, each one
 * spec (`core/structure.ts`). The manager hands it to transports, `attach`
 * looks kinds up in it. Adding a kind is one file, one line here, an export
 * and a factory.
 * @module
 */
import type { Kinds } from "./core/structure.ts";
import { dictSpec } from "./structures/dict.ts";
import { listSpec } from "./structures/list.ts";
import { setSpec } from "./structures/set.ts";
import { namespaceSpec } from "./structures/namespace.ts";
import { valueSpec } from "./structures/value.ts";
import { arraySpec } from "./structures/array.ts";
import { queueSpec } from "./structures/queue.ts";
import { joinableQueueSpec } from "./structures/joinable_queue.ts";
import { simpleQueueSpec } from "./structures/simple_queue.ts";
import { sharedMemorySpec } from "./structures/shared_memory.ts";
import { shareableListSpec } from "./structures/shareable_list.ts";
import { lockSpec } from "./sync/lock.ts";
import { rlockSpec } from "./sync/rlock.ts";
import { boundedSemaphoreSpec, semaphoreSpec } from "./sync/semaphore.ts";
import { conditionSpec } from "./sync/condition.ts";
import { eventSpec } from "./sync/event.ts";
import { barrierSpec } from "./sync/barrier.ts";
import { customClientSpec } from "./structures/custom.ts";

/** Every kind, by the name its handles carry (the manager's factories, in SyncManager's order). */
export const KINDS = {
  dict: dictSpec,
  list: listSpec,
  set: setSpec,
  namespace: namespaceSpec,
  value: valueSpec,
  array: arraySpec,
  queue: queueSpec,
  joinableQueue: joinableQueueSpec,
  simpleQueue: simpleQueueSpec,
  "shared-memory": sharedMemorySpec,
  "shareable-list": shareableListSpec,
  lock: lockSpec,
  rlock: rlockSpec,
  semaphore: semaphoreSpec,
  boundedSemaphore: boundedSemaphoreSpec,
  condition: conditionSpec,
  event: eventSpec,
  barrier: barrierSpec,
  /** Custom types (`Manager.start({ types })`): attached anywhere, created by a manager server only. */
  custom: customClientSpec,
} as const satisfies Kinds;

/** The name of a kind. */
export type KindName = keyof typeof KINDS;
