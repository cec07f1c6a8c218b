/**
 * The custom type of examples/custom_types.ts: a counter whose state lives
 * in the manager server. Registered by URL (`types: { Counter: new URL(…) }`),
 * its module is loaded by the server only: clients call it through a proxy.
 * @module
 */

/** A counter: its public methods are what a proxy can call. */
export default class Counter {
  #n: number;
  /** Starts at `start`. */
  constructor(start = 0) {
    this.#n = start;
  }
  /** Adds `by`; the new value. Each call runs whole in the server: no increment is lost. */
  increment(by = 1): number {
    return this.#n += by;
  }
  /** The current value. */
  value(): number {
    return this.#n;
  }
}
