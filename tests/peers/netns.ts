/**
 * Runs a command inside a private network namespace (`unshare -n`) whose
 * loopback is brought up first: the only place where tests and benchmarks may
 * sweep port ranges. The namespace disappears with the command.
 *
 * @module
 */

import { cleanStderr, outputWithin } from "./cli.ts";

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
    args: [
      "-n",
      "-p",
      "-f",
      "--kill-child",
      "sh",
      "-c",
      'ip link set lo up && exec "$@"',
      "sh",
      command,
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: options.env ?? {},
  }).spawn();
  const { code, stdout, stderr } = await outputWithin(child, options.killAfterMs ?? 120_000);
  const decoder = new TextDecoder();
  return { code, out: decoder.decode(stdout), err: decoder.decode(stderr) };
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
  // Not on the command's pipes: a kill guard could not end a wait for their EOF.
  "socat TCP-LISTEN:2500,bind=127.0.0.1,fork,reuseaddr /dev/null </dev/null >/dev/null 2>&1 &",
  "pid=$!",
  "for i in $(seq 50); do ss -ltn | grep -q ':2500 ' && break; sleep 0.1; done",
];

/** Options of {@linkcode runCliIsolated}. */
export interface RunCliIsolatedOptions {
  /** Lines of the namespace's /etc/hosts. @default {["127.0.0.1 localhost"]} */
  hosts?: string[];
  /**
   * `files`: names resolve from hosts only (nsswitch `hosts: files`);
   * `silent`: after hosts, DNS goes to 127.0.0.1:53 inside the namespace, where
   * a socket takes every query and never answers. No query leaves the machine
   * either way. @default {"files"}
   */
  resolver?: "files" | "silent";
  /** Shell lines run inside the namespaces before tcpc (e.g. start a peer). @default {[]} */
  setup?: string[];
  /** Deno permission flags. @default {["-P"]} */
  permissions?: string[];
  /** Kill after this long, ms (a guard, not an assertion). @default {60000} */
  killAfterMs?: number;
}

/**
 * Runs the tcpc CLI inside a private network and mount namespace whose
 * /etc/hosts, /etc/nsswitch.conf and /etc/resolv.conf are the test's own: a
 * name that does not resolve (or a resolver that never answers) is tested
 * without any query leaving the machine.
 *
 * @example
 * ```ts
 * import { runCliIsolated } from "./netns.ts";
 * const r = await runCliIsolated(["nosuchhost", "80"]);
 * console.log(r.code); // 3
 * ```
 */
export async function runCliIsolated(
  args: string[],
  options: RunCliIsolatedOptions = {},
): Promise<NetnsResult> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/hosts`,
      (options.hosts ?? ["127.0.0.1 localhost"]).join("\n") + "\n",
    );
    const silent = options.resolver === "silent";
    await Deno.writeTextFile(`${dir}/nsswitch.conf`, `hosts: files${silent ? " dns" : ""}\n`);
    await Deno.writeTextFile(
      `${dir}/resolv.conf`,
      "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    );
    const quoted = args.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
    const perms = (options.permissions ?? ["-P"]).join(" ");
    const script = [
      "ip link set lo up",
      `mount --bind ${dir}/hosts /etc/hosts`,
      `mount --bind ${dir}/nsswitch.conf /etc/nsswitch.conf`,
      `mount --bind ${dir}/resolv.conf /etc/resolv.conf`,
      // A resolver that takes every query and never answers.
      ...(silent
        ? ["socat -u UDP-RECV:53,bind=127.0.0.1 /dev/null </dev/null >/dev/null 2>&1 &"]
        : []),
      ...(options.setup ?? []),
      `exec "${Deno.execPath()}" run ${perms} main.ts ${quoted}`,
    ].join("\n");
    const child = new Deno.Command("unshare", {
      // -p -f: the namespace's pid 1 is the shell that execs tcpc; when it ends, the
      // kernel kills what the setup lines left running (no orphaned peers).
      args: ["-n", "-m", "-p", "-f", "--kill-child", "sh", "-c", script],
      cwd: new URL("../..", import.meta.url),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const { code, stdout, stderr } = await outputWithin(child, options.killAfterMs ?? 60_000);
    const decoder = new TextDecoder();
    const err = cleanStderr(decoder.decode(stderr));
    return { code, out: decoder.decode(stdout), err };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
