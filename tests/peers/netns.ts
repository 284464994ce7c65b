/**
 * Runs a command inside a private network namespace (`unshare -n`) whose
 * loopback is brought up first: the only place where tests and benchmarks may
 * sweep port ranges. The namespace disappears with the command.
 *
 * @module
 */

/** What a command run in a namespace gave. */
export interface NetnsResult {
  /** Exit code. */
  code: number;
  /** stdout as text. */
  out: string;
  /** stderr as text. */
  err: string;
}

/** Options of {@linkcode runInNetns}. */
export interface RunInNetnsOptions {
  /** Working directory. @default {undefined} (ours) */
  cwd?: string;
  /** Kill the command after this long (a guard, not an assertion). @default {120000} */
  killAfterMs?: number;
  /** Environment additions. @default {{}} */
  env?: Record<string, string>;
}

/**
 * Why private namespaces are unavailable here, or null when `unshare -n` works
 * (it needs root or user namespaces).
 *
 * @example
 * ```ts
 * import { netnsUnavailable } from "./netns.ts";
 * console.log(await netnsUnavailable() ?? "namespaces work");
 * ```
 */
export async function netnsUnavailable(): Promise<string | null> {
  try {
    const { success, stderr } = await new Deno.Command("unshare", {
      args: ["-n", "sh", "-c", "ip link set lo up"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (success) return null;
    return `unshare -n failed: ${new TextDecoder().decode(stderr).trim()}`;
  } catch (err) {
    return `unshare -n failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * Runs `command args...` in a fresh network namespace with `lo` up.
 *
 * @example
 * ```ts
 * import { runInNetns } from "./netns.ts";
 * const { out } = await runInNetns("ip", ["-brief", "link"]);
 * console.log(out); // lo UNKNOWN ...
 * ```
 */
export async function runInNetns(
  command: string,
  args: string[],
  options: RunInNetnsOptions = {},
): Promise<NetnsResult> {
  const child = new Deno.Command("unshare", {
    args: ["-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", command, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: options.env ?? {},
  }).spawn();
  const killer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, options.killAfterMs ?? 120_000);
  try {
    const { code, stdout, stderr } = await child.output();
    const decoder = new TextDecoder();
    return { code, out: decoder.decode(stdout), err: decoder.decode(stderr) };
  } finally {
    clearTimeout(killer);
  }
}

/**
 * Registers an ignored step naming why namespaces are unavailable and returns
 * true (the test then returns), or returns false when they work.
 */
export async function skipWithoutNetns(t: Deno.TestContext): Promise<boolean> {
  const why = await netnsUnavailable();
  if (why === null) return false;
  // An ignored step, so the skip and its reason show in the output.
  await t.step({
    name: `skipped: private network namespaces are unavailable here (${why})`,
    ignore: true,
    fn: () => {},
  });
  return true;
}

/** Shell lines that start one listener on 127.0.0.1:2500 inside the namespace and wait for it. */
export const LISTEN_2500: readonly string[] = [
  "socat TCP-LISTEN:2500,bind=127.0.0.1,fork,reuseaddr /dev/null &",
  "pid=$!",
  "for i in $(seq 50); do ss -ltn | grep -q ':2500 ' && break; sleep 0.1; done",
];
