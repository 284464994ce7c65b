import assert from "node:assert/strict";
import { positionalHint, unknownFlagMessage } from "../lib/cli/hints.ts";

Deno.test("unknownFlagMessage() names tcpc's way for netcat flags", () => {
  const cases: [string, readonly string[], RegExp][] = [
    ["-l", [], /^unknown option '-l' \(nc and ncat: listen\): use tcpc listen \[HOST\] PORT/],
    ["--listen", [], /tcpc listen/],
    ["-k", [], /use tcpc listen -k/],
    ["-N", [], /^unknown option '-N' \(nc: .*\): tcpc always half-closes after stdin EOF/],
    ["-e", [], /tcpc runs no program on the connection/],
    ["-c", ["tls"], /tcpc runs no program .*; for TLS use --tls$/],
    ["-c", [], /tcpc runs no program on the connection: pipe instead \(prog \| tcpc HOST PORT\)$/],
    ["--ssl", ["tls"], /\(ncat: TLS\): use --tls$/],
    ["--ssl", [], /TLS is not available on this command$/],
    ["-u", [], /tcpc speaks TCP only$/],
    ["--udp", [], /tcpc speaks TCP only$/],
    ["-p", ["source-port"], /use -p\/--source-port$/],
    ["-p", [], /cannot bind a source port$/],
    ["-n", [], /give an IP address/],
    ["-z", [], /tcpc probe HOST:PORT/],
    ["--wait", ["connect-timeout"], /use -w\/--connect-timeout$/],
    ["--ssl=yes", [], /^unknown option '--ssl=yes' \(ncat: TLS\)/],
  ];
  for (const [flag, accepts, expected] of cases) {
    const message = unknownFlagMessage(flag, { accepts });
    assert.match(message, expected, `${flag}: ${message}`);
    assert.ok(!message.includes("\n"), "one line");
    assert.ok(/^[a-z]/.test(message), "continues a `command: ` prefix in lower case");
  }
  assert.equal(unknownFlagMessage("--bogus"), "unknown option '--bogus'");
});

Deno.test("positionalHint() turns nc-style positionals into tcpc's spelling", () => {
  const cases: [string[], string, string | undefined][] = [
    [
      ["127.0.0.1:7007"],
      "tcpc",
      `"127.0.0.1:7007" is HOST:PORT in one argument: write tcpc 127.0.0.1 7007`,
    ],
    [["[::1]:80"], "tcpc ping", `"[::1]:80" is HOST:PORT in one argument: write tcpc ping ::1 80`],
    [
      ["host", "20-25"],
      "tcpc",
      `port "20-25" is a range: to check many ports, use tcpc probe host:20-25`,
    ],
    [
      ["::1", "22,80"],
      "tcpc",
      `port "22,80" is a list: to check many ports, use tcpc probe [::1]:22,80`,
    ],
    [
      ["host:20-25"],
      "tcpc",
      `"host:20-25" names several ports: to check many ports, use tcpc probe host:20-25`,
    ],
    [
      ["host", "20", "21", "22"],
      "tcpc",
      "several ports given: to check many ports, use tcpc probe host:20,21,22",
    ],
    [["host", "80"], "tcpc", undefined],
    [["host"], "tcpc", undefined],
    [["::1"], "tcpc", undefined],
    [["host", "80", "extra"], "tcpc", undefined],
    [["host", "abc"], "tcpc", undefined],
    [["host:abc"], "tcpc", undefined],
    [[], "tcpc", undefined],
  ];
  for (const [positionals, invocation, expected] of cases) {
    assert.equal(positionalHint(positionals, { invocation }), expected, positionals.join(" "));
  }
});
