/**
 * Typed errors of procshare. Each domain has one error class with a `reason`
 * union, in the manner of Effect's `WorkerError`; every class carries a `_tag`
 * so that Effect's `catchTag` can tell them apart.
 *
 * @example Telling a timeout from an abort
 * ```ts
 * import { LockError } from "./errors.ts";
 * const e = new LockError("Timeout", "Cannot acquire lock as the timeout elapsed: received 10");
 * console.log(e._tag, e.reason); // LockError Timeout
 * ```
 * @module
 */

/**
 * Base of every procshare error: a tag, a reason and a message. Each domain
 * (locks, queues, capacity, codec, transport, workers, shared memory) has one
 * subclass; test the subclass with `instanceof`, or the `_tag` in Effect's
 * `catchTag`, then switch on `reason`.
 *
 * @example Reading the tag and the reason
 * ```ts
 * import { LockError, type ProcshareError } from "./mod.ts";
 * const e: ProcshareError<"LockError", string> = new LockError("NotOwner", "Cannot release lock as it is not held");
 * console.log(e._tag, e.reason, e.name); // LockError NotOwner LockError
 * ```
 */
export abstract class ProcshareError<Tag extends string, Reason extends string> extends Error {
  /** The error's class name, as a literal type (Effect's `catchTag` reads it). */
  abstract readonly _tag: Tag;
  /** Why the operation failed. */
  readonly reason: Reason;
  /** An error of `reason`, with a message in the form `Cannot <do what> as <why>: received <value>`. */
  constructor(reason: Reason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
  /** The tag, so that stack traces and inspectors print the class name. */
  override get name(): string {
    return this._tag;
  }
}

/** Why a lock-like primitive refused an operation. */
export type LockErrorReason = "NotOwner" | "Timeout" | "Aborted" | "Broken";

/**
 * Raised by Lock, RLock, Semaphore, Condition, Event and Barrier.
 *
 * @example Catching a lock timeout
 * ```ts
 * import { LockError } from "./errors.ts";
 * try {
 *   throw new LockError("Timeout", "Cannot acquire lock as the timeout elapsed: received 5");
 * } catch (e) {
 *   if (e instanceof LockError && e.reason === "Timeout") console.log("busy");
 * }
 * ```
 */
export class LockError extends ProcshareError<"LockError", LockErrorReason> {
  /** Always `"LockError"`. */
  readonly _tag = "LockError" as const;
}

/** Why a queue refused an operation. */
export type QueueErrorReason = "Empty" | "Full" | "Timeout" | "Aborted" | "Closed" | "ShutDown";

/**
 * Raised by Queue, JoinableQueue and SimpleQueue: `Empty` and `Full` from the
 * non-blocking forms (Python's `queue.Empty` and `queue.Full`), `Timeout` and
 * `Aborted` from the blocking forms, `ShutDown` from a queue that was shut
 * down (Python 3.13's `queue.ShutDown`).
 *
 * @example Telling an empty queue apart
 * ```ts
 * import { QueueError } from "./errors.ts";
 * const e = new QueueError("Empty", "Cannot get from queue as it is empty");
 * console.log(e.reason); // Empty
 * ```
 */
export class QueueError extends ProcshareError<"QueueError", QueueErrorReason> {
  /** Always `"QueueError"`. */
  readonly _tag = "QueueError" as const;
}

/**
 * A structure that cannot grow further (its `maxBytes` is reached) fails the
 * write with this error; nothing already stored is lost.
 *
 * @example Reading the tag
 * ```ts
 * import { CapacityError } from "./errors.ts";
 * const e = new CapacityError("Full", "Cannot grow dict past maxBytes: received 1048576");
 * console.log(e._tag); // CapacityError
 * ```
 */
export class CapacityError extends ProcshareError<"CapacityError", "Full"> {
  /** Always `"CapacityError"`. */
  readonly _tag = "CapacityError" as const;
}

/** Why a value could not be encoded or decoded. */
export type CodecErrorReason = "Unsupported" | "Malformed";

/**
 * Functions, symbols and class instances never cross a structure or the wire:
 * encoding one fails with `CodecError("Unsupported")`.
 *
 * @example Reading the reason
 * ```ts
 * import { CodecError } from "./errors.ts";
 * console.log(new CodecError("Unsupported", "Cannot encode value as it is a function").reason);
 * ```
 */
export class CodecError extends ProcshareError<"CodecError", CodecErrorReason> {
  /** Always `"CodecError"`. */
  readonly _tag = "CodecError" as const;
}

/** Why a transport failed. */
export type TransportErrorReason =
  | "Connect"
  | "Auth"
  | "Closed"
  | "Protocol"
  | "FrameTooLarge"
  | "UnknownOperation"
  | "NotFound"
  | "BadUrl"
  | "Unsupported"
  | "Permission"
  | "Remote"
  | "Stale";

/**
 * Raised by a transport: a refused connection, a failed authkey handshake, a
 * closed manager, a malformed frame, an operation the transport cannot do.
 *
 * `Stale` is a handle of a manager server that has since stopped: a server
 * started again on the same address is another instance, whose structures
 * are not the old ones, so the old handle is refused rather than bound to
 * whichever new structure has its id. To recover, connect to the new server
 * (`Manager.connect(address, { authkey })`) and reopen the structure by its
 * name (`m.dict(undefined, { name })`); anonymous structures died with the
 * old server.
 *
 * @example Telling a refused authkey apart
 * ```ts
 * import { TransportError } from "./errors.ts";
 * const e = new TransportError("Auth", "Cannot connect to manager as the authkey was refused");
 * console.log(e.reason); // Auth
 * ```
 */
export class TransportError extends ProcshareError<"TransportError", TransportErrorReason> {
  /** Always `"TransportError"`. */
  readonly _tag = "TransportError" as const;
}

/** Why a spawned worker failed. */
export type WorkerErrorReason = "Spawn" | "Error" | "Exit" | "Terminated";

/**
 * Raised by `join()` when a spawned worker throws (`Error`, with the worker's
 * own error as `cause`), exits non-zero (`Exit`) or was terminated.
 *
 * @example Reading the exit code
 * ```ts
 * import { WorkerError } from "./errors.ts";
 * const e = new WorkerError("Exit", "Worker exited with code 3", { exitCode: 3 });
 * console.log(e.exitCode); // 3
 * ```
 */
export class WorkerError extends ProcshareError<"WorkerError", WorkerErrorReason> {
  /** Always `"WorkerError"`. */
  readonly _tag = "WorkerError" as const;
  /** The exit code, when the worker exited. */
  readonly exitCode: number | undefined;
  /** A worker failure of `reason`; `options.exitCode` is the worker's exit code, `options.cause` its own error. */
  constructor(
    reason: WorkerErrorReason,
    message: string,
    options?: { cause?: unknown; exitCode?: number },
  ) {
    super(reason, message, options);
    this.exitCode = options?.exitCode;
  }
}

/**
 * Why a shared memory operation failed (see {@linkcode SharedMemoryError}).
 *
 * @example Naming a reason
 * ```ts
 * import type { SharedMemoryErrorReason } from "./errors.ts";
 * const reason: SharedMemoryErrorReason = "NotFound";
 * console.log(reason);
 * ```
 */
export type SharedMemoryErrorReason = "NotFound" | "Exists" | "Closed" | "Unavailable" | "Timeout" | "Aborted";

/**
 * Raised by SharedMemory and ShareableList: no block of that name
 * (`NotFound`, Python's `FileNotFoundError`), the name is taken (`Exists`,
 * Python's `FileExistsError`), the instance was closed (`Closed`), a
 * synchronous call needs memory this thread does not hold (`Unavailable`),
 * no thread answered in time (`Timeout`) or the signal fired (`Aborted`).
 *
 * @example Telling a missing name apart
 * ```ts
 * import { SharedMemory, SharedMemoryError } from "./mod.ts";
 * try {
 *   await SharedMemory.attach("no-such-block");
 * } catch (e) {
 *   if (e instanceof SharedMemoryError && e.reason === "NotFound") console.log("not there");
 * }
 * ```
 */
export class SharedMemoryError extends ProcshareError<"SharedMemoryError", SharedMemoryErrorReason> {
  /** Always `"SharedMemoryError"`. */
  readonly _tag = "SharedMemoryError" as const;
}

/** The tagged error classes, by tag. */
const TAGGED: Record<
  string,
  new (reason: never, message: string, options?: { cause?: unknown; exitCode?: number }) => Error
> = {
  LockError,
  QueueError,
  CapacityError,
  CodecError,
  TransportError,
  WorkerError,
  SharedMemoryError,
};

/** Standard error classes, by name. */
export const STANDARD_ERRORS: Readonly<Record<string, new (message: string) => Error>> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/**
 * Rebuilds an error that crossed a thread, process or the wire as its tag (or
 * name), reason and message: procshare's errors as their classes, standard
 * errors as theirs, anything else as a `TransportError("Remote")`.
 */
export function reviveError(
  tag: string,
  reason: string,
  message: string,
  options?: { cause?: unknown; exitCode?: number },
): Error {
  if (Object.hasOwn(TAGGED, tag)) return new TAGGED[tag](reason as never, message, options);
  if (Object.hasOwn(STANDARD_ERRORS, tag)) return new STANDARD_ERRORS[tag](message);
  return new TransportError("Remote", message, options);
}

/** True when `tag` names one of procshare's tagged error classes. */
export function isTaggedErrorName(tag: string | undefined): boolean {
  return tag !== undefined && Object.hasOwn(TAGGED, tag);
}

/** The error domains whose blocking calls can time out or be aborted. */
export type WaitDomain = "LockError" | "QueueError" | "SharedMemoryError";

const WAIT_DOMAINS = { LockError, QueueError, SharedMemoryError } as const;

/** The typed error of a blocking call whose signal aborted: `Cannot ${what} as the signal was aborted`. */
export function abortedError(domain: WaitDomain, what: string, signal?: AbortSignal): Error {
  return new WAIT_DOMAINS[domain]("Aborted", `Cannot ${what} as the signal was aborted`, { cause: signal?.reason });
}

/** The typed error of a blocking call whose timeout elapsed. */
export function timedOutError(domain: WaitDomain, what: string, timeout: number | undefined): Error {
  return new WAIT_DOMAINS[domain]("Timeout", `Cannot ${what} as the timeout elapsed: received ${timeout}`);
}

/** The typed error of a Sync twin called on a transport without shared memory. */
export function unsupportedSync(what: string, via: string): Error {
  return new TypeError(`Cannot call ${what} as the '${via}' transport has no synchronous operations`);
}

/**
 * Why a pipe's {@linkcode Connection} refused an operation (see
 * {@linkcode PipeError}).
 *
 * @example Naming a reason
 * ```ts
 * import type { PipeErrorReason } from "./errors.ts";
 * const reason: PipeErrorReason = "EOF";
 * console.log(reason);
 * ```
 */
export type PipeErrorReason = "EOF" | "BrokenPipe" | "Closed" | "Timeout" | "Aborted";

/**
 * Raised by the Connections of a `Pipe`: `EOF` when the peer closed (or
 * its worker exited) and nothing is left to receive, Python's `EOFError`;
 * `BrokenPipe` when sending to a peer that closed, Python's
 * `BrokenPipeError`; `Closed` when this end was closed or passed to a
 * worker; `Timeout` and `Aborted` from `recv({ timeout, signal })`.
 *
 * @example Reading until the peer closes
 * ```ts
 * import { Pipe, PipeError } from "./mod.ts";
 * const [a, b] = Pipe();
 * await b.send("last");
 * b.close();
 * try {
 *   for (;;) console.log(await a.recv()); // last
 * } catch (e) {
 *   if (!(e instanceof PipeError && e.reason === "EOF")) throw e;
 * }
 * ```
 */
export class PipeError extends ProcshareError<"PipeError", PipeErrorReason> {
  /** Always `"PipeError"`. */
  readonly _tag = "PipeError" as const;
}

// a PipeError thrown in a worker is rebuilt as one by join()
TAGGED.PipeError = PipeError;
