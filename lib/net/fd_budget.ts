/**
 * How many file descriptors this process can still open, measured rather than
 * computed: Deno 2.9 has no getrlimit, and the limit alone says nothing about
 * how many descriptors the runtime already holds.
 *
 * @module
 */

/** Options of {@linkcode countFreeFds}. */
export interface CountFreeFdsOptions {
  /** Stop counting here (the question is "are there at least this many?"). */
  max: number;
  /** A file any process may open for reading. @default {"/dev/null"} */
  path?: string;
}

/**
 * Opens `path` until `max` descriptors are held or opening fails (EMFILE),
 * closes them all, and returns how many it got. Undefined when not even one
 * open worked for another reason than EMFILE (e.g. the sandbox refuses the
 * read): the count is then unknown.
 *
 * @example Are 40 descriptors free?
 * ```ts
 * import { countFreeFds } from "./fd_budget.ts";
 * const free = await countFreeFds({ max: 40 });
 * console.log(free === undefined ? "unknown" : free >= 40);
 * ```
 */
export async function countFreeFds(options: CountFreeFdsOptions): Promise<number | undefined> {
  const path = options.path ?? "/dev/null";
  const held: Deno.FsFile[] = [];
  try {
    while (held.length < options.max) {
      try {
        held.push(await Deno.open(path, { read: true }));
      } catch (err) {
        const emfile = (err as { code?: string }).code === "EMFILE" ||
          /too many open files/i.test(err instanceof Error ? err.message : String(err));
        if (emfile || held.length > 0) break;
        return undefined;
      }
    }
    return held.length;
  } finally {
    for (const file of held) file.close();
  }
}
