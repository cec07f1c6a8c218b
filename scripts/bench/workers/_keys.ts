/** The keys every dict case reads and writes: 1000 short strings, as in python_manager.py. */
export const KEY_COUNT = 1000;
/** The keys, "key:0" … "key:999". */
export const KEYS: readonly string[] = Array.from({ length: KEY_COUNT }, (_, i) => `key:${i}`);
/** A key table padded to 1024 entries (a power of two, indexed with `& KEY_MASK`). */
export const KEY_RING: readonly string[] = Array.from({ length: 1024 }, (_, i) => KEYS[i % KEY_COUNT]);
/** Index mask of KEY_RING. */
export const KEY_MASK = 1023;
