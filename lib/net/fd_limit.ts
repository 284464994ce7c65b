/**
 * The file descriptor soft limit (`ulimit -n`, RLIMIT_NOFILE), when it can be
 * read. Deno 2.9 has no getrlimit, and reading `/proc/self/limits` needs
 * `--allow-all`; under the default permissions the limit stays unknown and the
 * readiness loop learns it from EMFILE instead (lib/net/mux.ts).
 *
 * @module
 */

/** Where a limit came from. */
export type FdLimitSource = "proc" | "ulimit";

/** A known soft limit. */
export interface FdLimit {
  /** The soft limit: most descriptors this process may hold. */
  soft: number;
  /** How it was read. */
  source: FdLimitSource;
}

/**
 * Reads the soft "Max open files" value from `/proc/self/limits` text.
 * Returns undefined when absent or "unlimited".
 *
 * @example
 * ```ts
 * import { parseFdLimit } from "./fd_limit.ts";
 * const text = "Limit            Soft Limit Hard Limit Units\nMax open files   1024       4096       files\n";
 * console.log(parseFdLimit(text)); // 1024
 * ```
 */
export function parseFdLimit(text: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith("Max open files"));
  const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
  if (soft === undefined || !/^\d+$/.test(soft)) return undefined;
  return Number(soft);
}

/** Options of {@linkcode readFdLimit}. */
export interface ReadFdLimitOptions {
  /** Where the limits file is. @default {"/proc/self/limits"} */
  path?: string;
}

// query() throws only for an unknown permission name, never for these two.
async function granted(descriptor: Deno.PermissionDescriptor): Promise<boolean> {
  return (await Deno.permissions.query(descriptor)).state === "granted";
}

/**
 * The soft file descriptor limit, from `/proc/self/limits` (needs
 * `--allow-all` in Deno 2.9) or from `sh -c "ulimit -n"` (only when running
 * `sh` is already allowed: it never prompts). Undefined when neither works.
 *
 * @example
 * ```ts
 * import { readFdLimit } from "./fd_limit.ts";
 * const limit = await readFdLimit();
 * console.log(limit?.soft ?? "unknown: learned from EMFILE");
 * ```
 */
export async function readFdLimit(options: ReadFdLimitOptions = {}): Promise<FdLimit | undefined> {
  const path = options.path ?? "/proc/self/limits";
  if (await granted({ name: "read", path })) {
    try {
      const soft = parseFdLimit(await Deno.readTextFile(path));
      if (soft !== undefined) return { soft, source: "proc" };
    } catch { /* NotCapable (needs --allow-all) or not Linux */ }
  }
  if (await granted({ name: "run", command: "sh" })) {
    try {
      // A child inherits our RLIMIT_NOFILE, so its `ulimit -n` is ours.
      const { success, stdout } = await new Deno.Command("sh", {
        args: ["-c", "ulimit -n"],
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      }).output();
      const text = new TextDecoder().decode(stdout).trim();
      if (success && /^\d+$/.test(text)) return { soft: Number(text), source: "ulimit" };
    } catch { /* no sh */ }
  }
  return undefined;
}
