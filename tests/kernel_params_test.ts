import assert from "node:assert/strict";
import { LINUX_DEFAULTS } from "./fixtures/linux_defaults.ts";
import {
  backoffTotalMs,
  deriveLimits,
  ephemeralPortCount,
  keepaliveDeadPeerMs,
  KERNEL_PARAM_NAMES,
  KERNEL_PARAMS,
  linuxDefaults,
  maxConnectMs,
  type ParamShape,
  parseParamText,
  parseSysctlOutput,
  retransmitGiveUpMs,
  synAckGiveUpMs,
  sysctlKey,
} from "../lib/kernel/params.ts";

Deno.test("parseParamText() parses the text of /proc files", () => {
  const cases: [string, ParamShape, number[]][] = [
    ["6\n", "int", [6]],
    ["0", "int", [0]],
    ["  15  \n", "int", [15]],
    ["32768\t60999\n", "pair", [32768, 60999]],
    ["4096\t131072\t6291456\n", "triple", [4096, 131072, 6291456]],
    ["4096 16384   4194304", "triple", [4096, 16384, 4194304]],
  ];
  for (const [text, shape, want] of cases) {
    assert.deepEqual(parseParamText(text, shape), want, JSON.stringify(text));
  }
});

Deno.test("parseParamText() rejects malformed text with a RangeError", () => {
  const cases: [string, ParamShape, RegExp][] = [
    ["", "int", /expected 1 integer, got ""/],
    ["\n", "int", /expected 1 integer/],
    ["six\n", "int", /not a non-negative integer: "six"/],
    ["-1\n", "int", /not a non-negative integer: "-1"/],
    ["1.5", "int", /not a non-negative integer/],
    ["0x10", "int", /not a non-negative integer/],
    ["99999999999999999999", "int", /not a non-negative integer/],
    ["6 7", "int", /expected 1 integer, got "6 7"/],
    ["32768", "pair", /expected 2 integers/],
    ["4096 131072", "triple", /expected 3 integers/],
    ["4096 16384 4194304 1", "triple", /expected 3 integers/],
  ];
  for (const [text, shape, message] of cases) {
    assert.throws(() => parseParamText(text, shape), { name: "RangeError", message });
  }
});

Deno.test("parseSysctlOutput() maps keys to values and skips other lines", () => {
  const text = "net.ipv4.tcp_syn_retries = 6\n" +
    "net.ipv4.tcp_rmem = 4096\t131072\t6291456\n" +
    "sysctl: cannot stat /proc/sys/net/ipv4/nope: No such file or directory\n" +
    "garbage\n\n";
  const map = parseSysctlOutput(text);
  assert.deepEqual([...map], [
    ["net.ipv4.tcp_syn_retries", "6"],
    ["net.ipv4.tcp_rmem", "4096\t131072\t6291456"],
  ]);
  assert.equal(parseSysctlOutput("").size, 0);
});

Deno.test("sysctlKey() turns a /proc path into a dotted key", () => {
  assert.equal(sysctlKey("ipv4/tcp_syn_retries"), "net.ipv4.tcp_syn_retries");
  assert.equal(sysctlKey("core/wmem_max"), "net.core.wmem_max");
});

Deno.test("KERNEL_PARAMS has a default of the right shape for every parameter", () => {
  const counts = { int: 1, pair: 2, triple: 3 };
  for (const name of KERNEL_PARAM_NAMES) {
    const spec = KERNEL_PARAMS[name];
    assert.equal(spec.name, name);
    assert.equal(spec.linuxDefault.length, counts[spec.shape], name);
    assert.ok(spec.meaning.length > 0 && spec.meaning.length <= 50, name);
  }
});

Deno.test("KERNEL_PARAMS defaults are the stock Linux values", () => {
  assert.deepEqual(
    Object.fromEntries(KERNEL_PARAM_NAMES.map((name) => [name, KERNEL_PARAMS[name].linuxDefault])),
    LINUX_DEFAULTS,
  );
});

Deno.test("maxConnectMs() sums 1 s doubling waits, capped at 120 s", () => {
  // (2^(n+1) - 1) s up to n = 6; then each extra SYN waits the 120 s cap.
  const cases: [number, number][] = [
    [0, 1_000],
    [1, 3_000],
    [2, 7_000],
    [3, 15_000],
    [5, 63_000],
    [6, 127_000],
    [7, 247_000],
    [8, 367_000],
  ];
  for (const [retries, ms] of cases) assert.equal(maxConnectMs(retries), ms, `${retries}`);
});

Deno.test("maxConnectMs() agrees with the 1 + 2 + 4 + ... recipe below the cap", () => {
  // The Python recipe in the seeds: timeout = 1; for each retry add 2^k.
  for (let retries = 0; retries <= 6; retries++) {
    let seconds = 1;
    for (let k = 1; k <= retries; k++) seconds += 2 ** k;
    assert.equal(maxConnectMs(retries), seconds * 1000);
  }
});

Deno.test("retransmitGiveUpMs() models RFC 6298 backoff from 200 ms", () => {
  const cases: [number, number][] = [
    [0, 200],
    [3, 3_000],
    [8, 102_200],
    [9, 204_600],
    [10, 324_600],
    [15, 924_600],
  ];
  for (const [retries, ms] of cases) assert.equal(retransmitGiveUpMs(retries), ms, `${retries}`);
});

Deno.test("synAckGiveUpMs() uses the 1 s initial RTO", () => {
  assert.equal(synAckGiveUpMs(5), 63_000);
  assert.equal(synAckGiveUpMs(2), 7_000);
});

Deno.test("backoffTotalMs() takes other bounds and rejects bad input", () => {
  assert.equal(backoffTotalMs(3, { initialRtoMs: 1000, maxRtoMs: 2000 }), 1000 + 2000 * 3);
  assert.equal(backoffTotalMs(2, { initialRtoMs: 500, maxRtoMs: 500 }), 1500);
  assert.throws(() => backoffTotalMs(-1), RangeError);
  assert.throws(() => backoffTotalMs(1.5), RangeError);
  assert.throws(() => backoffTotalMs(NaN), RangeError);
  assert.throws(() => backoffTotalMs(1, { initialRtoMs: 0 }), RangeError);
  assert.throws(() => backoffTotalMs(1, { initialRtoMs: 10, maxRtoMs: 5 }), RangeError);
});

Deno.test("keepaliveDeadPeerMs() is time + intvl * probes", () => {
  assert.equal(keepaliveDeadPeerMs({ timeS: 7200, intervalS: 75, probes: 9 }), 7_875_000);
  assert.equal(keepaliveDeadPeerMs({ timeS: 600, intervalS: 10, probes: 5 }), 650_000);
  assert.equal(keepaliveDeadPeerMs({ timeS: 1, intervalS: 1, probes: 0 }), 1_000);
});

Deno.test("ephemeralPortCount() counts the range inclusively", () => {
  assert.equal(ephemeralPortCount(32768, 60999), 28232);
  assert.equal(ephemeralPortCount(1024, 65535), 64512);
  assert.equal(ephemeralPortCount(5000, 5000), 1);
  assert.equal(ephemeralPortCount(6000, 5000), 0);
});

Deno.test("deriveLimits() computes every limit from the stock defaults", () => {
  assert.deepEqual(deriveLimits(linuxDefaults()), {
    maxConnectMs: 127_000,
    synAckGiveUpMs: 63_000,
    routeRecheckMs: 3_000,
    stalledGiveUpMs: 924_600,
    keepaliveDeadPeerMs: 7_875_000,
    ephemeralPorts: 28232,
    receiveBuffer: { min: 4096, default: 131072, max: 6291456 },
    sendBuffer: { min: 4096, default: 16384, max: 4194304 },
  });
});

Deno.test("deriveLimits() takes the stock value for each entry a short value lacks", () => {
  const limits = deriveLimits({
    ...linuxDefaults(),
    "ipv4/tcp_rmem": [1024],
    "ipv4/tcp_syn_retries": [],
  });
  assert.deepEqual(limits.receiveBuffer, { min: 1024, default: 131072, max: 6291456 });
  assert.equal(limits.maxConnectMs, 127_000);
});

Deno.test("KERNEL_PARAMS keys are dotted net. keys, safe as sysctl arguments", () => {
  // read.ts passes them to sysctl as they are: no option (-w) and no path can slip in.
  for (const name of KERNEL_PARAM_NAMES) {
    assert.match(KERNEL_PARAMS[name].key, /^net\.[a-z0-9_]+(\.[a-z0-9_]+)*$/, name);
    assert.equal(KERNEL_PARAMS[name].key, sysctlKey(name), name);
  }
});
