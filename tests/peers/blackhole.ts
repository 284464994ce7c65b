/**
 * A blackholed peer: the CLI runs inside a private network namespace that
 * this helper creates (`unshare -n`, only `lo` up), where a netfilter rule
 * (iptables, else nft) DROPs every SYN to the target port, so nothing ever
 * answers. The namespace dies with the process: nothing to clean up, and no
 * packet ever leaves it (the network rule: loopback or our own namespace).
 *
 * @module
 */

import { outputWithin, REPO } from "./cli.ts";

/** Whether the machine lets us build the namespace, and why not. */
export interface BlackholeSupport {
  /** True when namespaces and a netfilter tool work here. */
  ok: boolean;
  /** The reason when `ok` is false. */
  why: string;
  /** The tool that installs the DROP rule. */
  tool?: "iptables" | "nft";
}

/** Shell lines that install a DROP rule for SYNs to `port` with `tool`. */
function dropRule(tool: "iptables" | "nft", port: number): string {
  return tool === "iptables"
    // -w 10: a bounded wait for the xtables lock (a plain -w waits as long as a holder keeps it).
    ? `iptables -w 10 -A INPUT -p tcp --dport ${port} --syn -j DROP`
    : `nft add table inet tcpc_bh && ` +
      `nft add chain inet tcpc_bh input '{ type filter hook input priority 0; }' && ` +
      `nft add rule inet tcpc_bh input tcp dport ${port} tcp flags syn drop`;
}

async function trySh(script: string): Promise<{ ok: boolean; err: string }> {
  try {
    const { code, stderr } = await new Deno.Command("unshare", {
      args: ["-n", "sh", "-c", script],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    return { ok: code === 0, err: new TextDecoder().decode(stderr).trim() };
  } catch (err) {
    return { ok: false, err: err instanceof Error ? err.message : String(err) };
  }
}

let support: Promise<BlackholeSupport> | undefined;

/** Checks (once) that `unshare -n`, `ip` and iptables or nft work here. */
export function blackholeAvailable(): Promise<BlackholeSupport> {
  support ??= (async (): Promise<BlackholeSupport> => {
    if (Deno.build.os !== "linux") return { ok: false, why: "not Linux" };
    const ns = await trySh("ip link set lo up");
    if (!ns.ok) {
      return { ok: false, why: `cannot create a network namespace (unshare -n): ${ns.err}` };
    }
    for (const tool of ["iptables", "nft"] as const) {
      const rule = await trySh(`ip link set lo up && ${dropRule(tool, 9)}`);
      if (rule.ok) return { ok: true, why: "", tool };
    }
    return { ok: false, why: "neither iptables nor nft can install a DROP rule here" };
  })();
  return support;
}

/** Options of {@linkcode runInBlackhole}. */
export interface RunInBlackholeOptions {
  /** Set net.ipv4.tcp_syn_retries inside the namespace. @default {undefined} (the kernel's) */
  synRetries?: number;
  /** Install the DROP rule (false: a closed port answers RST, as a control). @default {true} */
  drop?: boolean;
  /** Kill the CLI after this long (a test bug guard). @default {60000} */
  killAfterMs?: number;
}

/** What the CLI run in the namespace gave. */
export interface BlackholeResult {
  /** Exit code. */
  code: number;
  /** stdout. */
  stdout: Uint8Array;
  /** stderr (raw). */
  stderr: Uint8Array;
  /** Wall time of the run, ms (namespace set-up included: a few ms). */
  ms: number;
}

/**
 * Runs `deno run -P main.ts ...args` inside a fresh network namespace whose
 * port `args[1]` on 127.0.0.1 drops SYNs. Throws when unavailable (check
 * {@linkcode blackholeAvailable} first).
 */
export async function runInBlackhole(
  args: string[],
  options: RunInBlackholeOptions = {},
): Promise<BlackholeResult> {
  const found = await blackholeAvailable();
  if (!found.ok || found.tool === undefined) throw new Error(`no blackhole: ${found.why}`);
  const port = Number(args[1]);
  if (!Number.isInteger(port)) throw new Error("args[1] must be the port");
  const lines = ["set -e", "ip link set lo up"];
  if (options.drop ?? true) lines.push(dropRule(found.tool, port));
  if (options.synRetries !== undefined) {
    lines.push(`sysctl -q -w net.ipv4.tcp_syn_retries=${options.synRetries}`);
  }
  lines.push(`exec "$0" run -P main.ts "$@"`);
  const started = performance.now();
  const child = new Deno.Command("unshare", {
    args: ["-n", "sh", "-c", lines.join("\n"), Deno.execPath(), ...args],
    cwd: REPO,
    env: { RUST_BACKTRACE: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { code, stdout, stderr } = await outputWithin(child, options.killAfterMs ?? 60_000);
  return { code, stdout, stderr, ms: performance.now() - started };
}
