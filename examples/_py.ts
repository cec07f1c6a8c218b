/**
 * How Python prints values, for the examples that port Python programs and
 * print what their originals print: `repr` of a str, int, float, bool, None,
 * list, tuple (`Tuple`) and dict (a `Map` or plain object), and numpy's
 * `print(array)` of a one-dimensional array of whole numbers.
 *
 * @example
 * ```ts
 * import { ndarray, repr } from "./_py.ts";
 * console.log(repr(new Map<unknown, unknown>([[1, "1"], ["2", 2]]))); // {1: '1', '2': 2}
 * console.log(repr([1, 2.5, null, true]));                          // [1, 2.5, None, True]
 * console.log(repr([10, 11], { float: true }));                     // [10.0, 11.0]
 * console.log(ndarray([2, 4, 10], { float: true }));                // [ 2.  4. 10.]
 * ```
 * @module
 */

/** Options of {@linkcode repr}. */
export interface ReprOptions {
  /** Print numbers as Python floats (`10.0`): the elements of a `'d'` or `'f'` Array. */
  readonly float?: boolean;
}

/**
 * Python's `repr(value)`.
 *
 * @example
 * ```ts
 * import { repr } from "./_py.ts";
 * console.log(repr({ key_0: 0 })); // {'key_0': 0}
 * ```
 */
export function repr(value: unknown, options?: ReprOptions): string {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") {
    if (options?.float && Number.isInteger(value)) return value.toFixed(1);
    return String(value);
  }
  if (typeof value === "bigint") return String(value);
  if (typeof value === "string") return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
  if (Array.isArray(value)) {
    const items = value.map((v) => repr(v, options));
    return value instanceof Tuple ? `(${items.join(", ")}${items.length === 1 ? "," : ""})` : `[${items.join(", ")}]`;
  }
  const entries = value instanceof Map ? [...value] : Object.entries(value as object);
  return `{${entries.map(([k, v]) => `${repr(k)}: ${repr(v, options)}`).join(", ")}}`;
}

/**
 * An array that {@linkcode repr} prints as a Python tuple.
 *
 * @example
 * ```ts
 * import { repr, Tuple } from "./_py.ts";
 * console.log(repr(Tuple.of(0, 1))); // (0, 1)
 * ```
 */
export class Tuple<T = unknown> extends Array<T> {}

/**
 * numpy's `print(a)` of a one-dimensional array of whole numbers (`float`:
 * a float array, `[ 2.  4. 10.]`; else an int array, `[11 12 13]`).
 *
 * @example
 * ```ts
 * import { ndarray } from "./_py.ts";
 * console.log(ndarray([11, 12, 13])); // [11 12 13]
 * ```
 */
export function ndarray(values: ArrayLike<number | bigint>, options?: ReprOptions): string {
  const items = Array.from(values, (v) => `${v}${options?.float ? "." : ""}`);
  const width = Math.max(0, ...items.map((s) => s.length));
  return `[${items.map((s) => s.padStart(width)).join(" ")}]`;
}
