/**
 * The sweeper of `shm:`: removes the region files that SIGKILLed (or
 * crashed) creators left in `/dev/shm`.
 *
 * A process killed while it holds a mapping loses the mapping, but its file
 * stays until someone unlinks it (Python's `shared_memory` has the same
 * problem, and its `resource_tracker`). Region files are named
 * `procshare-<pid>-<starttime>-<random>` (`ShmRegion.defaultName`), so the
 * creator of each is known: `sweep` unlinks every such file whose creator is
 * dead by (pid, start time), zombies and reused pids included
 * (`_liveness.ts`). It leaves alone the files of live creators, every other
 * name (a name given by the user, another program's file), and anything that
 * is not a regular file: a symbolic link is never followed nor removed, nor
 * is a directory. Listing goes through the FFI (`opendir`/`readdir`), so
 * Deno needs no `--allow-read` beyond `shm:`'s `--allow-ffi`; `unlink` never
 * follows a link.
 *
 * A region whose creator died may still be mapped by other processes: their
 * mappings keep working after the unlink, but no new process can open it by
 * name.
 *
 * @example Sweeping at start-up
 * ```ts
 * import { sweep } from "./_sweep.ts";
 * const removed = await sweep();
 * if (removed.length > 0) console.log(`removed ${removed.length} leaked region file(s)`, removed);
 * ```
 * @module
 */
import { SharedMemoryError } from "../../errors.ts";
import { DT_REG, Errno, type Ffi, loadFfi } from "./_ffi.ts";
import { isAlive, type ProcessIdentity } from "./_liveness.ts";
import { SHM_DIR } from "./_region.ts";

/** `procshare-<pid>-<starttime>-<random>`: what `ShmRegion.defaultName` makes. */
const REGION_FILE = /^procshare-([1-9][0-9]{0,9})-([0-9]{1,20})-([0-9A-Za-z]{1,64})$/;

/**
 * The creator named by a region file name, or undefined when the name is not
 * `procshare-<pid>-<starttime>-<random>`.
 *
 * @example Reading a creator from a name
 * ```ts
 * import { creatorOf } from "./_sweep.ts";
 * console.log(creatorOf("procshare-4242-123456-0badcafe")); // { pid: 4242, startTime: 123456 }
 * console.log(creatorOf("my-region")); // undefined
 * ```
 */
export function creatorOf(name: string): ProcessIdentity | undefined {
  const m = REGION_FILE.exec(name);
  if (m === null) return undefined;
  const pid = Number(m[1]);
  const startTime = Number(m[2]);
  if (!Number.isSafeInteger(pid) || !Number.isSafeInteger(startTime)) return undefined;
  return { pid, startTime };
}

/**
 * Removes, from `dir`, the regular files named
 * `procshare-<pid>-<starttime>-<random>` whose creator is dead, with the FFI
 * already loaded; returns their names. A file another user owns (the
 * directory is sticky: EPERM) or that vanished meanwhile is skipped.
 * `SharedMemoryError("Unavailable")` when `dir` cannot be listed.
 *
 * @example Sweeping with a loaded FFI
 * ```ts
 * import { loadFfi } from "./_ffi.ts";
 * import { sweepWith } from "./_sweep.ts";
 * console.log(sweepWith(await loadFfi()));
 * ```
 */
export function sweepWith(ffi: Ffi, dir: string = SHM_DIR): string[] {
  const entries = ffi.listDir(dir);
  if (typeof entries === "number") {
    throw new SharedMemoryError(
      "Unavailable",
      `Cannot sweep shm regions as the directory cannot be listed (errno ${-entries}): received ${dir}`,
    );
  }
  const base = dir.endsWith("/") ? dir : `${dir}/`;
  const removed: string[] = [];
  for (const { name, type } of entries) {
    if (type !== DT_REG) continue; // links, directories, and anything of unknown type stay
    const creator = creatorOf(name);
    if (creator === undefined || isAlive(ffi, creator)) continue;
    const r = ffi.unlink(base + name);
    if (r === 0) removed.push(name);
    else if (r !== -Errno.ENOENT && r !== -Errno.EPERM && r !== -Errno.EACCES) {
      throw new SharedMemoryError(
        "Unavailable",
        `Cannot sweep shm region as unlink failed (errno ${-r}): received ${base + name}`,
      );
    }
  }
  return removed;
}

/**
 * Removes the region files of dead creators from `dir` (default
 * `/dev/shm`), loading the FFI first; resolves with the names removed.
 *
 * @example Sweeping a directory
 * ```ts
 * import { sweep } from "./_sweep.ts";
 * console.log(await sweep("/dev/shm"));
 * ```
 */
export async function sweep(dir: string = SHM_DIR): Promise<string[]> {
  return sweepWith(await loadFfi(), dir);
}
