/**
 * Custom types: Python's `BaseManager.register(typeid, callable)`. A class
 * registered with `Manager.start({ types })` is constructed in the manager
 * server's process by `m.custom(type, args, { name })`, and every call of
 * its proxy runs there; the proxy is generic (any process attaches it
 * without knowing the class), its methods learnt from the server.
 *
 * One kind, `"custom"`, serves every type: its engine is the object and the
 * set of its callable methods; its two ops are `call [method, args]` and
 * `describe`. The table of kinds (`kinds.ts`) holds the spec without types,
 * whose `create` refuses with `TransportError("Unsupported")`: that is what
 * a transport without a manager server (shared buffer, `shm:`) runs. A
 * manager hands the spec with its types to its transport as a *server kind*
 * (`StartOptions.serverKinds`), which a transport with a server adds to
 * what it serves.
 *
 * ## Security
 *
 * Only public methods the class defines are callable: functions found on
 * its prototype chain below `Object.prototype`, except `constructor` and
 * names starting with `_` (Python's rule for `exposed`); no getter, setter,
 * static, own instance field or `Object.prototype` member. Arguments and
 * results cross the wire through the codec as every other call's.
 * @module
 */
import type { Backend, Handle } from "../core/backend.ts";
import { defineStructure, Shared } from "../core/structure.ts";
import { isTaggedErrorName, reviveError, STANDARD_ERRORS, TransportError } from "../errors.ts";

/**
 * A class a manager can host: constructed with `new` from the arguments of
 * `m.custom(type, args)`.
 *
 * @example A class to register
 * ```ts
 * import type { CustomClass } from "./custom.ts";
 * class Counter {
 *   n = 0;
 *   increment(by = 1): number {
 *     return this.n += by;
 *   }
 * }
 * const type: CustomClass = Counter;
 * ```
 */
// deno-lint-ignore no-explicit-any
export type CustomClass = new (...args: any[]) => object;

/**
 * Where a custom type comes from, in `Manager.start({ types })`: the URL of
 * a module whose default export is the class (works wherever the server
 * runs), or the class itself (only while the server runs in the process that
 * starts the manager).
 *
 * @example Both forms
 * ```ts
 * import type { CustomType } from "./custom.ts";
 * class Maths {
 *   add(x: number, y: number): number {
 *     return x + y;
 *   }
 * }
 * const byClass: CustomType = Maths;
 * const byModule: CustomType = new URL("./counter.ts", import.meta.url);
 * ```
 */
export type CustomType = URL | CustomClass;

/** Any function: what a member must be to be a method of a proxy. */
// deno-lint-ignore no-explicit-any
type AnyFunction = (...args: any[]) => unknown;

/**
 * A proxy's view of `T`: every method of `T`, awaited by the caller (its
 * result a Promise of what the method returns), plus the members of
 * {@linkcode CustomObject} (`handle`, `close()`, `using`, `callMethod`, …),
 * which a method of the same name (or `then`) does not shadow: call such a
 * method with `callMethod`.
 *
 * @example Typing a proxy
 * ```ts
 * import type { Custom } from "./custom.ts";
 * class Counter {
 *   n = 0;
 *   increment(): number {
 *     return ++this.n;
 *   }
 * }
 * type Proxy = Custom<Counter>; // { increment(): Promise<number>; handle; close(); … }
 * ```
 */
export type Custom<T> =
  & {
    readonly [
      K in keyof T as K extends keyof CustomObject | "then" ? never
        : T[K] extends AnyFunction ? K
        : never
    ]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
  }
  & CustomObject;

/**
 * How a method failed, as it crosses the wire (its own class cannot).
 *
 * @internal
 */
export interface Thrown {
  readonly name: string;
  readonly reason: string;
  readonly message: string;
}

/**
 * The outcome of one method call: `{ v }` its value, `{ e }` what it threw.
 *
 * @internal
 */
export type Outcome = { readonly v?: unknown; readonly e?: undefined } | { readonly e: Thrown };

/**
 * What the `describe` op answers: the type's name and its callable methods.
 *
 * @internal
 */
export interface Description {
  readonly type: string;
  readonly methods: readonly string[];
}

/**
 * A registered type, loaded: its class and callable methods.
 *
 * @internal
 */
export interface LoadedType {
  readonly cls: CustomClass;
  readonly methods: ReadonlySet<string>;
}

/** The registered types of one manager, by name. */
export type CustomTypes = ReadonlyMap<string, LoadedType>;

function thrown(e: unknown): Thrown {
  if (e instanceof Error) {
    const tagged = e as Error & { _tag?: unknown; reason?: unknown };
    return {
      name: typeof tagged._tag === "string" ? tagged._tag : String(e.name),
      reason: typeof tagged.reason === "string" ? tagged.reason : "",
      message: String(e.message),
    };
  }
  return { name: "Error", reason: "", message: String(e) };
}

/** procshare's errors and the standard ones as their class; any other as an `Error` of the same name. */
function revive(t: Thrown): Error {
  const name = typeof t?.name === "string" ? t.name : "Error";
  const message = typeof t?.message === "string" ? t.message : String(t?.message);
  if (isTaggedErrorName(name) || Object.hasOwn(STANDARD_ERRORS, name)) {
    return reviveError(name, typeof t?.reason === "string" ? t.reason : "", message);
  }
  const e = new Error(message);
  e.name = name;
  return e;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === "object" || typeof v === "function") && v !== null &&
    typeof (v as { then?: unknown }).then === "function";
}

/**
 * The engine of a custom object: the object, in the server's process.
 *
 * @internal
 */
export class CustomEngine {
  constructor(readonly type: string, readonly object: object, readonly methods: ReadonlySet<string>) {}

  /** Runs one method; what it throws (or rejects with) is the outcome, not a failure of the call. */
  invoke(method: unknown, args: unknown): Outcome | Promise<Outcome> {
    if (typeof method !== "string" || !this.methods.has(method)) {
      throw new TransportError(
        "UnknownOperation",
        `Cannot call ${this.type}.${String(method)} as it is not a public method of ${this.type}: received ${
          String(method)
        }`,
      );
    }
    if (!Array.isArray(args)) {
      throw new TransportError(
        "Protocol",
        `Cannot call ${this.type}.${method} as args is not an array: received ${args}`,
      );
    }
    let r: unknown;
    try {
      r = (this.object as Record<string, (...a: unknown[]) => unknown>)[method](...args);
    } catch (e) {
      return { e: thrown(e) };
    }
    if (!isThenable(r)) return { v: r };
    return Promise.resolve(r).then((v) => ({ v }), (e) => ({ e: thrown(e) }));
  }

  describe(): Description {
    return { type: this.type, methods: [...this.methods] };
  }
}

/** The operations of a custom object: one method call, and what the object is. */
const /** @internal */ customOps = {
  call: (e: CustomEngine, [method, args]: [string, readonly unknown[]]): Outcome | Promise<Outcome> =>
    e.invoke(method, args),
  describe: (e: CustomEngine): Description => e.describe(),
};

/** A name a proxy never takes for a method, besides its own members: an awaited proxy would call it. */
const RESERVED = new Set(["then"]);

/**
 * The proxy of a custom object (Python's `BaseProxy`): the methods of the
 * class it stands for, as own properties, each sending its call to the
 * manager server and resolving with the result (or rejecting with what the
 * method threw: procshare's and the standard errors as their class, any
 * other as an `Error` of the same `name` and `message`). `callMethod` calls
 * one by name (Python's `_callmethod`). Get one from `m.custom`, or by
 * attaching its handle (`spawn` args do it for you).
 *
 * A method named as a member of the proxy itself (`close`, `handle`,
 * `toJSON`, `callMethod`, …) or `then` is reached by `callMethod` only.
 *
 * @example A counter in the server
 * ```ts
 * import { type Custom, Manager } from "../mod.ts";
 * class Counter {
 *   n = 0;
 *   increment(by = 1): number {
 *     return this.n += by;
 *   }
 * }
 * await using m = await Manager.start({ transport: "tcp://127.0.0.1:0", types: { Counter } });
 * const c: Custom<Counter> = await m.custom<Counter>("Counter");
 * console.log(await c.increment(), await c.callMethod("increment", [2]), c.type); // 1 3 Counter
 * ```
 */
export class CustomObject extends Shared<CustomEngine, typeof customOps> {
  #type = "";
  #methods: readonly string[] = [];

  /** @internal Use `Manager.custom` or `attach(handle)`. */
  constructor(handle: Handle, backend: Backend<CustomEngine>) {
    super(handle, backend, customOps);
  }

  /** The registered name of the type (`"Counter"`). */
  get type(): string {
    return this.#type;
  }

  /** The methods the server lets this proxy call. */
  get methods(): readonly string[] {
    return this.#methods;
  }

  /**
   * Calls the method `method` of the object with `args` in the server
   * (Python's `_callmethod`). A name that is not a public method of the
   * class fails with `TransportError("UnknownOperation")`.
   */
  async callMethod(method: string, args: readonly unknown[] = []): Promise<unknown> {
    const r = await this.call("call", [method, args]);
    if (r !== null && typeof r === "object" && r.e !== undefined) throw revive(r.e);
    return r?.v;
  }

  /**
   * A proxy over `backend`, once the server said what the object is: its
   * methods installed (a failure closes it).
   *
   * @internal
   */
  static async attached(handle: Handle, backend: Backend<CustomEngine>): Promise<CustomObject> {
    const c = new CustomObject(handle, backend);
    try {
      const d = await c.call("describe", []);
      if (
        d === null || typeof d !== "object" || typeof d.type !== "string" || !Array.isArray(d.methods) ||
        !d.methods.every((m) => typeof m === "string")
      ) {
        throw new TransportError("Protocol", "Cannot attach custom object as the server's description is malformed");
      }
      c.#type = d.type;
      c.#methods = Object.freeze([...d.methods]);
      for (const m of d.methods) {
        if (RESERVED.has(m) || m in c) continue;
        Object.defineProperty(c, m, {
          value: (...args: unknown[]) => c.callMethod(m, args),
          enumerable: false,
          writable: false,
          configurable: false,
        });
      }
      return c;
    } catch (e) {
      c.close();
      throw e;
    }
  }
}

function noServer(params: readonly unknown[]): never {
  throw new TransportError(
    "Unsupported",
    "Cannot create custom object as its manager has no server hosting custom types " +
      `(start one with Manager.start({ transport: "unix:…" or "tcp://…", types })): received ${
        String(Array.isArray(params) ? params[0] : params)
      }`,
  );
}

function notShared(): never {
  throw new TransportError(
    "Unsupported",
    "Cannot share custom object as it lives in a manager server only: received a shared-buffer open",
  );
}

/**
 * The spec of custom objects: with `types`, the one a manager server runs
 * (it constructs registered classes); without, the one of `kinds.ts`,
 * which every process attaches with and which refuses to create (a
 * transport with no server).
 *
 * @internal
 */
export function customSpec(types?: CustomTypes) {
  return defineStructure({
    kind: "custom",
    create(params: readonly unknown[]): CustomEngine {
      if (types === undefined) noServer(params);
      const [type, args] = Array.isArray(params) ? params : [];
      if (typeof type !== "string" || !types.has(type)) {
        const known = [...types.keys()].join(", ") || "none";
        throw new TypeError(
          `Cannot create custom object as its type is not registered with the manager (registered: ${known}): received ${
            String(type)
          }`,
        );
      }
      if (args !== undefined && args !== null && !Array.isArray(args)) {
        throw new TypeError(`Cannot create ${type} as its args must be an array: received ${String(args)}`);
      }
      const { cls, methods } = types.get(type)!;
      return new CustomEngine(type, new cls(...(args ?? [])), methods);
    },
    createPortable: noServer,
    share: notShared,
    open: notShared,
    ops: customOps,
    client: (handle: Handle, backend: Backend<CustomEngine>): Promise<CustomObject> =>
      CustomObject.attached(handle, backend),
  });
}

/** The spec of `kinds.ts`: attaches anywhere, creates nowhere. @internal */
export const customClientSpec = customSpec();

/** The public methods of a class: its prototype chain's functions below Object.prototype, but `constructor` and `_…`. */
function methodsOf(cls: CustomClass): Set<string> {
  const out = new Set<string>();
  for (let p = cls.prototype; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const k of Object.getOwnPropertyNames(p)) {
      if (k === "constructor" || k.startsWith("_") || out.has(k)) continue;
      const d = Object.getOwnPropertyDescriptor(p, k);
      if (d !== undefined && typeof d.value === "function") out.add(k);
    }
  }
  return out;
}

function isClass(v: unknown): v is CustomClass {
  return typeof v === "function" && typeof v.prototype === "object" && v.prototype !== null;
}

/**
 * Loads the types of `Manager.start({ types })`: imports each module URL and
 * takes its default export, which must be a class, as a given class must be.
 *
 * @internal
 */
export async function loadTypes(types: Readonly<Record<string, CustomType>> | undefined): Promise<CustomTypes> {
  const out = new Map<string, LoadedType>();
  if (types === undefined) return out;
  if (typeof types !== "object" || types === null) {
    throw new TypeError(`Cannot register custom types as 'types' must be an object: received ${String(types)}`);
  }
  for (const [name, source] of Object.entries(types)) {
    let cls: unknown = source;
    if (source instanceof URL || typeof source === "string") {
      const href = String(source);
      let mod: { default?: unknown };
      try {
        mod = await import(new URL(href).href);
      } catch (e) {
        throw new TypeError(`Cannot register custom type ${name} as its module did not load: received ${href}`, {
          cause: e,
        });
      }
      cls = mod.default;
    }
    if (!isClass(cls)) {
      throw new TypeError(
        `Cannot register custom type ${name} as it is not a class (or a module URL whose default export is one): received ${typeof cls}`,
      );
    }
    out.set(name, { cls, methods: methodsOf(cls) });
  }
  return out;
}
