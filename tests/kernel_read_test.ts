import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { KERNEL_PARAM_NAMES, type KernelParamName, maxConnectMs } from "../lib/kernel/params.ts";
import { readConnectLimit, readingValues, readKernelParams } from "../lib/kernel/read.ts";
import { LINUX_DEFAULTS } from "./fixtures/linux_defaults.ts";

const TUNED = fileURLToPath(new URL("./fixtures/proc/tuned", import.meta.url));
const BROKEN = fileURLToPath(new URL("./fixtures/proc/broken", import.meta.url));
const LINUX = Deno.build.os === "linux";

/** Reads the live values with `cat` (this process may not read /proc: Deno wants --allow-all). */
async function catProc(names: readonly KernelParamName[]): Promise<Map<KernelParamName, number[]>> {
  const { code, stdout } = await new Deno.Command("cat", {
    args: names.map((name) => `/proc/sys/net/${name}`),
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(code, 0);
  const lines = new TextDecoder().decode(stdout).trimEnd().split("\n");
  return new Map(names.map((name, i) => [name, (lines[i] ?? "").trim().split(/\s+/).map(Number)]));
}

Deno.test("readKernelParams() reads every value from a fixture tree", async () => {
  const reading = await readKernelParams({ root: TUNED, os: "linux" });
  assert.equal(reading.root, TUNED);
  assert.deepEqual(reading.notes, []);
  const want: Record<KernelParamName, number[]> = {
    "ipv4/tcp_syn_retries": [3],
    "ipv4/tcp_synack_retries": [2],
    "ipv4/tcp_retries1": [4],
    "ipv4/tcp_retries2": [8],
    "ipv4/tcp_keepalive_time": [600],
    "ipv4/tcp_keepalive_intvl": [10],
    "ipv4/tcp_keepalive_probes": [5],
    "ipv4/tcp_rmem": [8192, 262144, 16777216],
    "ipv4/tcp_wmem": [8192, 65536, 8388608],
    "ipv4/tcp_fin_timeout": [30],
    "ipv4/ip_local_port_range": [1024, 65535],
    "ipv4/tcp_tw_reuse": [1],
    "core/somaxconn": [1024],
    "core/rmem_max": [16777216],
    "core/wmem_max": [8388608],
  };
  for (const name of KERNEL_PARAM_NAMES) {
    assert.deepEqual(reading.params[name], { value: want[name], source: "proc" }, name);
  }
});

Deno.test("readKernelParams() falls back to defaults with a note for malformed and missing files", async () => {
  const reading = await readKernelParams({ root: BROKEN, os: "linux" });
  const cases: [KernelParamName, RegExp][] = [
    ["ipv4/tcp_syn_retries", /malformed file: not a non-negative integer: "six"/],
    ["ipv4/tcp_retries2", /malformed file: not a non-negative integer: "-1"/],
    ["ipv4/tcp_rmem", /malformed file: expected 3 integers, got "4096 131072"/],
    ["ipv4/tcp_wmem", /malformed file: expected 3 integers/],
    ["ipv4/tcp_fin_timeout", /malformed file: expected 1 integer, got ""/],
    ["ipv4/tcp_keepalive_time", /malformed file: not a non-negative integer: "9999/],
    ["ipv4/tcp_keepalive_intvl", /no such file under ".*broken"$/],
    ["ipv4/tcp_keepalive_probes", /no such file under/],
    ["core/somaxconn", /no such file under/],
    ["core/rmem_max", /no such file under/],
    ["core/wmem_max", /no such file under/],
  ];
  for (const [name, note] of cases) {
    const param = reading.params[name];
    assert.equal(param?.source, "default", name);
    assert.deepEqual(param?.value, LINUX_DEFAULTS[name], name);
    assert.match(param?.note ?? "", /^assumed Linux default: /, name);
    assert.match(param?.note ?? "", note, name);
  }
  assert.deepEqual(reading.params["ipv4/tcp_synack_retries"], { value: [5], source: "proc" });
  assert.deepEqual(reading.params["ipv4/ip_local_port_range"], {
    value: [32768, 60999],
    source: "proc",
  });
});

Deno.test("readKernelParams() reads nothing off Linux and labels every value", async () => {
  const reading = await readKernelParams({ root: TUNED, os: "darwin" });
  assert.equal(reading.os, "darwin");
  assert.deepEqual(reading.notes, [
    "not Linux (darwin): every value is a Linux default, shown for reference only",
  ]);
  for (const name of KERNEL_PARAM_NAMES) {
    assert.deepEqual(reading.params[name], {
      value: LINUX_DEFAULTS[name],
      source: "default",
      note: "Linux default for reference: this system is darwin",
    });
  }
});

Deno.test("readKernelParams() reads only the names asked for", async () => {
  const reading = await readKernelParams({
    root: TUNED,
    os: "linux",
    names: ["ipv4/tcp_syn_retries", "core/somaxconn"],
  });
  assert.deepEqual(Object.keys(reading.params).sort(), ["core/somaxconn", "ipv4/tcp_syn_retries"]);
  // readingValues() fills the rest with defaults for deriveLimits().
  const values = readingValues(reading);
  assert.deepEqual(values["ipv4/tcp_syn_retries"], [3]);
  assert.deepEqual(values["ipv4/tcp_retries2"], [15]);
});

Deno.test({
  name: "readKernelParams() runs sysctl when Deno refuses /proc",
  ignore: !LINUX,
  async fn() {
    // The test permission set grants read and run but not --allow-all: /proc is refused.
    const reading = await readKernelParams();
    const live = await catProc(KERNEL_PARAM_NAMES);
    assert.deepEqual(reading.notes, []);
    for (const name of KERNEL_PARAM_NAMES) {
      assert.deepEqual(reading.params[name], { value: live.get(name), source: "sysctl" }, name);
    }
  },
});

Deno.test({
  name: "readKernelParams() falls back to defaults when sysctl is not installed",
  ignore: !LINUX,
  async fn() {
    const reading = await readKernelParams({ sysctlCommand: "/nonexistent/sysctl" });
    for (const name of KERNEL_PARAM_NAMES) {
      const param = reading.params[name];
      assert.equal(param?.source, "default");
      assert.equal(
        param?.note,
        'assumed Linux default: "/nonexistent/sysctl" is not installed (package procps)',
      );
    }
    assert.equal(reading.notes.length, 1);
    assert.match(reading.notes[0] ?? "", /not installed.*--allow-all/);
  },
});

Deno.test({
  name: "readKernelParams() keeps the keys sysctl answered when it fails for others",
  ignore: !LINUX,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const fake = `${dir}/sysctl`;
      await Deno.writeTextFile(
        fake,
        "#!/bin/sh\n" +
          'printf "net.ipv4.tcp_syn_retries = 9\\nnet.ipv4.tcp_rmem = 1\\t2\\t3\\n"\n' +
          'printf "net.ipv4.tcp_retries2 = lots\\n"\n' +
          'echo "sysctl: cannot stat /proc/sys/net/core/somaxconn: No such file or directory" >&2\n' +
          "exit 1\n",
      );
      await Deno.chmod(fake, 0o755);
      const reading = await readKernelParams({ sysctlCommand: fake });
      assert.deepEqual(reading.params["ipv4/tcp_syn_retries"], { value: [9], source: "sysctl" });
      assert.deepEqual(reading.params["ipv4/tcp_rmem"], { value: [1, 2, 3], source: "sysctl" });
      assert.equal(reading.params["ipv4/tcp_retries2"]?.source, "default");
      assert.match(
        reading.params["ipv4/tcp_retries2"]?.note ?? "",
        /malformed sysctl value for net\.ipv4\.tcp_retries2: not a non-negative integer: "lots"/,
      );
      assert.equal(
        reading.params["core/somaxconn"]?.note,
        "assumed Linux default: sysctl gave no value for net.core.somaxconn: " +
          "sysctl: cannot stat /proc/sys/net/core/somaxconn: No such file or directory",
      );
      assert.equal(
        reading.params["core/wmem_max"]?.note,
        "assumed Linux default: sysctl gave no value for net.core.wmem_max",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("readKernelParams() rejects with the signal's reason when aborted", async () => {
  const controller = new AbortController();
  const reason = new DOMException("stop", "AbortError");
  controller.abort(reason);
  await assert.rejects(readKernelParams({ root: TUNED, signal: controller.signal }), reason);
  await assert.rejects(readConnectLimit({ signal: controller.signal }), reason);
});

Deno.test("readConnectLimit() reads tcp_syn_retries from a fixture tree", async () => {
  assert.deepEqual(await readConnectLimit({ root: TUNED }), {
    synRetries: 3,
    maxConnectMs: 15_000,
    source: "proc",
  });
});

Deno.test("readConnectLimit() assumes 6 retries with a note when the file is malformed", async () => {
  const limit = await readConnectLimit({ root: BROKEN });
  assert.equal(limit.synRetries, 6);
  assert.equal(limit.maxConnectMs, 127_000);
  assert.equal(limit.source, "default");
  assert.match(limit.note ?? "", /malformed/);
});

Deno.test({
  name: "readConnectLimit() matches the live kernel",
  ignore: !LINUX,
  async fn() {
    const live = await catProc(["ipv4/tcp_syn_retries"]);
    const retries = live.get("ipv4/tcp_syn_retries")?.[0];
    const limit = await readConnectLimit();
    assert.equal(limit.synRetries, retries);
    assert.equal(limit.source, "sysctl");
    assert.equal(limit.maxConnectMs, maxConnectMs(retries ?? -1));
  },
});

Deno.test({
  name: "readKernelParams() reads a bounded amount from a file linked to /dev/zero",
  ignore: !LINUX,
  async fn() {
    // Before: Deno.readTextFile read /dev/zero until memory ran out.
    const root = await Deno.makeTempDir({ prefix: "tcpc-kernel-" });
    try {
      await Deno.mkdir(`${root}/ipv4`);
      await Deno.writeTextFile(`${root}/ipv4/tcp_retries2`, "15\n");
      await Deno.symlink("/dev/zero", `${root}/ipv4/tcp_syn_retries`);
      const reading = await readKernelParams({
        root,
        os: "linux",
        names: ["ipv4/tcp_syn_retries", "ipv4/tcp_retries2"],
        signal: AbortSignal.timeout(20_000),
      });
      assert.deepEqual(reading.params["ipv4/tcp_retries2"], { value: [15], source: "proc" });
      assert.deepEqual(reading.params["ipv4/tcp_syn_retries"], {
        value: [6],
        source: "default",
        note: "assumed Linux default: the file holds 4096 bytes or more, not a value",
      });
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
