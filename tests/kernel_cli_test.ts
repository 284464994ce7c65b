import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { collectingContext } from "./peers/context.ts";
import { outputWithin } from "./peers/cli.ts";
import { runKernel } from "../lib/cli/kernel.ts";
import { LINUX_DEFAULTS } from "./fixtures/linux_defaults.ts";
import { UsageError } from "../lib/errors.ts";
import { KERNEL_PARAM_NAMES, type KernelParamName } from "../lib/kernel/params.ts";
import type { KernelReportJson } from "../lib/kernel/report.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));
/** Under deno run, tcpc reads a command's modules from lib/ when it runs (main.ts). */
const LIB_DIR = fileURLToPath(new URL("../lib", import.meta.url));
const TUNED = fileURLToPath(new URL("./fixtures/proc/tuned", import.meta.url));
const BROKEN = fileURLToPath(new URL("./fixtures/proc/broken", import.meta.url));
const LINUX = Deno.build.os === "linux";

/** Live values via `cat`: the test process may not read /proc itself (Deno wants --allow-all). */
async function catProc(): Promise<Map<KernelParamName, number[]>> {
  const { code, stdout } = await new Deno.Command("cat", {
    args: KERNEL_PARAM_NAMES.map((name) => `/proc/sys/net/${name}`),
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(code, 0);
  const lines = new TextDecoder().decode(stdout).trimEnd().split("\n");
  return new Map(
    KERNEL_PARAM_NAMES.map((name, i) => [name, (lines[i] ?? "").trim().split(/\s+/).map(Number)]),
  );
}

/** Runs `deno run <flags> main.ts kernel --json` from the repo root. */
async function runCli(
  flags: string[],
): Promise<{ code: number; report: KernelReportJson; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, "main.ts", "kernel", "--json"],
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { code, stdout, stderr } = await outputWithin(child, 60_000);
  const text = new TextDecoder().decode(stdout);
  assert.equal(
    text.split("\n").length,
    2,
    `one line of JSON expected, got ${JSON.stringify(text)}`,
  );
  return { code, report: JSON.parse(text), stderr: new TextDecoder().decode(stderr) };
}

function flat(value: number | number[] | undefined): number[] {
  return typeof value === "number" ? [value] : value ?? [];
}

Deno.test("runKernel() prints a table from a fixture tree", async () => {
  const { ctx, out, err } = collectingContext();
  assert.equal(await runKernel(["--root", TUNED], ctx), 0);
  assert.deepEqual(err, []);
  assert.match(out[0] ?? "", /^PARAMETER +VALUE +SOURCE +MEANING +CONSEQUENCE$/);
  assert.equal(out.length, 1 + KERNEL_PARAM_NAMES.length);
  const row = (name: string) => out.find((line) => line.startsWith(`${name} `)) ?? "";
  assert.match(row("ipv4/tcp_syn_retries"), / 3 +proc +.*connect\(\) times out after 15s$/);
  assert.match(row("ipv4/tcp_retries2"), /killed after 102\.2s \(1m42\.2s\) or more$/);
  assert.match(row("ipv4/tcp_keepalive_probes"), /after 650s \(10m50s\), with SO_KEEPALIVE$/);
  assert.match(row("ipv4/tcp_rmem"), / 8192 262144 16777216 +proc .*256 KiB.* 16 MiB$/);
  assert.match(row("ipv4/ip_local_port_range"), / 64512 ports: /);
  assert.match(row("ipv4/tcp_tw_reuse"), /reused for outgoing connects$/);
  for (const line of out) assert.equal(line, line.trimEnd());
});

Deno.test("runKernel() lists notes after the table for assumed values", async () => {
  const { ctx, out } = collectingContext();
  assert.equal(await runKernel(["--root", BROKEN + "/"], ctx), 0);
  const notes = out.slice(out.indexOf("notes:") + 1);
  assert.ok(notes.length > 0);
  assert.ok(notes.some((line) => /^ {2}ipv4\/tcp_syn_retries: .*malformed/.test(line)));
  assert.ok(
    notes.some((line) =>
      /^ {2}ipv4\/tcp_keepalive_intvl, .*core\/wmem_max: .*no such file under /.test(line)
    ),
  );
  assert.match(out.find((line) => line.startsWith("ipv4/tcp_syn_retries ")) ?? "", / 6 +default /);
});

Deno.test("runKernel() prints one JSON object with --json", async () => {
  const { ctx, out, err } = collectingContext();
  assert.equal(await runKernel(["--json", "--root", TUNED], ctx), 0);
  assert.equal(out.length, 1);
  assert.deepEqual(err, []);
  const report: KernelReportJson = JSON.parse(out[0] ?? "");
  assert.equal(report.schema, "tcpc.kernel.v1");
  assert.equal(report.root, TUNED);
  assert.deepEqual(report.notes, []);
  assert.deepEqual(report.params["ipv4/tcp_syn_retries"], {
    key: "net.ipv4.tcp_syn_retries",
    value: 3,
    unit: "count",
    source: "proc",
    linuxDefault: 6,
    meaning: "SYN retransmits before connect() gives up",
    note: null,
  });
  assert.deepEqual(report.params["ipv4/tcp_rmem"]?.value, [8192, 262144, 16777216]);
  assert.equal(report.derived.maxConnectMs.value, 15_000);
  assert.deepEqual(report.derived.maxConnectMs.from, ["ipv4/tcp_syn_retries"]);
  assert.equal(report.derived.stalledGiveUpMs.value, 102_200);
  assert.equal(report.derived.routeRecheckMs.value, 6_200);
  assert.equal(report.derived.synAckGiveUpMs.value, 7_000);
  assert.equal(report.derived.keepaliveDeadPeerMs.value, 650_000);
  assert.equal(report.derived.ephemeralPorts.value, 64512);
  assert.deepEqual(report.derived.sendBuffer.value, { min: 8192, default: 65536, max: 8388608 });
});

Deno.test("runKernel() marks derived values from assumed inputs as default", async () => {
  const { ctx, out, err } = collectingContext();
  assert.equal(await runKernel(["--json", "--root", BROKEN], ctx), 0);
  const report: KernelReportJson = JSON.parse(out[0] ?? "");
  assert.equal(report.derived.maxConnectMs.source, "default");
  assert.equal(report.derived.synAckGiveUpMs.source, "proc");
  assert.equal(report.derived.keepaliveDeadPeerMs.source, "default");
  assert.match(err[0] ?? "", /^kernel: \d+ value\(s\) assumed: see "notes" in the JSON$/);
});

Deno.test("runKernel() prints its help", async () => {
  const { ctx, out } = collectingContext();
  assert.equal(await runKernel(["--help"], ctx), 0);
  // Written out, not compared with KERNEL_HELP itself (that could not fail).
  const help = out.join("\n");
  assert.match(help, /^Usage: tcpc kernel \[--json\] \[--root DIR\]\n/);
  for (
    const line of [/^ {6}--json {17}print one JSON object/m, /^ {2}-h, --help {17}this help$/m]
  ) {
    assert.match(help, line);
  }
  for (const source of ["proc", "sysctl", "default"]) {
    assert.match(help, new RegExp(`^  ${source} +\\S`, "m"), source);
  }
});

Deno.test("runKernel() rejects bad flags and arguments with a UsageError", async () => {
  const cases: [string[], RegExp][] = [
    [["--nope"], /^kernel: unknown option '--nope'/],
    [["extra"], /^kernel: unexpected argument "extra"$/],
    [["--json=yes"], /^kernel: /],
    [["--root"], /^kernel: /],
    [["--root", ""], /^kernel: invalid value "" for --root/],
  ];
  for (const [argv, message] of cases) {
    const { ctx, out } = collectingContext();
    await assert.rejects(runKernel(argv, ctx), (err: unknown) => {
      assert.ok(err instanceof UsageError, String(err));
      assert.match(err.message, message);
      return true;
    });
    assert.deepEqual(out, []);
  }
});

Deno.test({
  name: "tcpc kernel --json with --allow-all matches /proc",
  ignore: !LINUX,
  async fn() {
    const [{ code, report, stderr }, live] = await Promise.all([runCli(["-A"]), catProc()]);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, "");
    assert.deepEqual(report.notes, []);
    for (const name of KERNEL_PARAM_NAMES) {
      assert.equal(report.params[name]?.source, "proc", name);
      assert.deepEqual(flat(report.params[name]?.value), live.get(name), name);
    }
  },
});

Deno.test({
  name: "tcpc kernel --json under the default permission set uses sysctl",
  ignore: !LINUX,
  async fn() {
    const [{ code, report, stderr }, live] = await Promise.all([runCli(["-P"]), catProc()]);
    assert.equal(code, 0, stderr);
    assert.deepEqual(report.notes, []);
    for (const name of KERNEL_PARAM_NAMES) {
      assert.equal(report.params[name]?.source, "sysctl", name);
      assert.deepEqual(flat(report.params[name]?.value), live.get(name), name);
    }
  },
});

Deno.test({
  name: "tcpc kernel --json without /proc or run permission shows labelled defaults",
  ignore: !LINUX,
  async fn() {
    const { code, report, stderr } = await runCli(["--allow-net", `--allow-read=${LIB_DIR}`]);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /^kernel: 15 value\(s\) assumed: see "notes" in the JSON\n$/);
    assert.equal(report.notes.length, 1);
    assert.match(report.notes[0] ?? "", /--allow-all.*--allow-run=sysctl/);
    for (const name of KERNEL_PARAM_NAMES) {
      const param = report.params[name];
      assert.equal(param?.source, "default", name);
      // JSON gives one integer as a number, two or three as an array.
      const stock = LINUX_DEFAULTS[name] ?? [];
      const want = stock.length === 1 ? stock[0] : stock;
      assert.deepEqual(param?.value, want, name);
      assert.deepEqual(param?.linuxDefault, want, name);
      assert.match(param?.note ?? "", /^assumed Linux default: /, name);
    }
    assert.equal(report.derived.maxConnectMs.value, 127_000);
    assert.equal(report.derived.maxConnectMs.source, "default");
  },
});
