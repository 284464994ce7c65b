/**
 * Runs the real CLI as a subprocess (`deno run -P main.ts ...`), the way users
 * and the compiled binary run it.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** The repository root. */
export const REPO: string = fileURLToPath(new URL("../..", import.meta.url));

/** Options of {@linkcode runCli} and {@linkcode spawnCli}. */
export interface RunCliOptions {
  /** Bytes for stdin; unset: stdin is null (EOF at once is not given: no stdin at all). */
  stdin?: Uint8Array | string;
  /** Deno permission flags. @default {["-P"]} */
  permissions?: string[];
  /** Kill the child after this long (a test bug guard, not an assertion). @default {60000} */
  killAfterMs?: number;
  /** Run under `sh -c "ulimit -n N"`: the child's file descriptor limit. @default {undefined} */
  fdLimit?: number;
}

/** What a finished CLI run gave. */
export interface CliResult {
  /** Exit code. */
  code: number;
  /** stdout bytes. */
  stdout: Uint8Array;
  /** stdout as text. */
  out: string;
  /** stderr as text, without Deno's permission-config warning line. */
  err: string;
  /** Wall time, ms. */
  ms: number;
}

const PERMISSION_WARNING = /^.*Permissions in the config file is an experimental feature.*\n/m;

/** Strips Deno's "permissions in config" warning (and colors) from stderr. */
export function cleanStderr(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, "").replace(PERMISSION_WARNING, "");
}

/**
 * Spawns the CLI with piped stdio; the caller writes stdin and reads outputs.
 * It is killed after `killAfterMs` ({@linkcode killAfter}), so a wait for its
 * exit or on its pipes always ends.
 */
export function spawnCli(args: string[], options: RunCliOptions = {}): Deno.ChildProcess {
  const deno = ["run", ...(options.permissions ?? ["-P"]), "main.ts", ...args];
  const limited = options.fdLimit === undefined
    ? null
    : ["-c", `ulimit -n ${options.fdLimit} && exec "$0" "$@"`, Deno.execPath(), ...deno];
  const child = new Deno.Command(limited === null ? Deno.execPath() : "sh", {
    args: limited ?? deno,
    cwd: REPO,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  killAfter(child, options.killAfterMs ?? 60_000);
  return child;
}

/**
 * Kills `child` with SIGKILL if it still runs after `ms`: a guard against a
 * test bug that would hang the suite, not an assertion. The timer ends when
 * the child does, so it never outlives the test that awaited the child.
 */
export function killAfter(child: Deno.ChildProcess, ms: number): void {
  const killer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, ms);
  void child.status.finally(() => clearTimeout(killer));
}

/**
 * Waits for a child's exit and output, killing it after `killAfterMs` (a
 * guard against a test bug that would hang the suite, not an assertion).
 */
export async function outputWithin(
  child: Deno.ChildProcess,
  killAfterMs: number,
): Promise<Deno.CommandOutput> {
  killAfter(child, killAfterMs);
  return await child.output();
}

/**
 * Runs the CLI to completion with optional stdin bytes.
 */
export async function runCli(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  const started = performance.now();
  const child = spawnCli(args, options);
  // Write stdin while reading the outputs: a large input that comes back would
  // otherwise fill both pipes and deadlock.
  const feeding = (async () => {
    if (options.stdin === undefined) return;
    const data = typeof options.stdin === "string"
      ? new TextEncoder().encode(options.stdin)
      : options.stdin;
    const writer = child.stdin.getWriter();
    try {
      await writer.write(data);
      await writer.close();
    } catch { /* the child may exit before reading all stdin */ }
  })();
  // spawnCli's kill guard bounds the wait.
  const [{ code, stdout, stderr }] = await Promise.all([child.output(), feeding]);
  return {
    code,
    stdout,
    out: new TextDecoder().decode(stdout),
    err: cleanStderr(new TextDecoder().decode(stderr)),
    ms: performance.now() - started,
  };
}
