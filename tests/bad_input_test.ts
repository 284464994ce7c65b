/**
 * Malformed invocations of every subcommand, run through the real CLI: each
 * exits 2 with one line on stderr that names the bad value, prints no stack
 * trace (even with RUST_BACKTRACE=1), writes nothing on stdout, and opens no
 * socket. The last is checked two ways: the runs point at a listener of ours
 * that must see no connection, and the sandbox allows the network only to
 * that listener, so a connect anywhere else would end in exit 5, not 2.
 *
 * @module
 */

import assert from "node:assert/strict";
import { cleanStderr, outputWithin, REPO, runCli } from "./peers/cli.ts";

/** One malformed invocation and the text its message must contain. */
interface Row {
  /** The arguments after `main.ts`; `PORT` is replaced by our listener's port. */
  argv: string[];
  /** The bad value (or flag), as the message must quote or name it. */
  names: string;
}

const H = "127.0.0.1";
const P = "PORT";
const LONG_HOST = "a".repeat(300);

const CONNECT_ROWS: Row[] = [
  { argv: [H, "0"], names: `"0"` },
  { argv: [H, "65536"], names: `"65536"` },
  { argv: [H, "-1"], names: "-1" },
  { argv: [H, "abc"], names: `"abc"` },
  { argv: [H, "99999999"], names: `"99999999"` },
  { argv: [H, "8a"], names: `"8a"` },
  { argv: [H, " 80"], names: `" 80"` },
  { argv: ["a b", P], names: `"a b"` },
  { argv: ["", P], names: `""` },
  { argv: [LONG_HOST, P], names: `"${"a".repeat(80)}..." (300 characters)` },
  { argv: ["256.1.1.1", P], names: `"256.1.1.1"` },
  { argv: ["1.2.3", P], names: `"1.2.3"` },
  { argv: ["[::1", P], names: `"[::1"` },
  { argv: ["::g", P], names: `"::g"` },
  { argv: ["host_with!bang", P], names: `"host_with!bang"` },
  { argv: [H, P, "-w", "-1s"], names: `"-1s"` },
  { argv: [H, P, "--connect-timeout=-1s"], names: `"-1s"` },
  { argv: [H, P, "-t", "1x"], names: `"1x"` },
  { argv: [H, P, "-i", "NaN"], names: `"NaN"` },
  { argv: [H, P, "--deadline", ""], names: `""` },
  { argv: [H, P, "--first-byte-timeout", "1e3"], names: `"1e3"` },
  { argv: [H, P, "-q", "30d"], names: `"30d"` },
  { argv: [H, P, "-w", "99999999999"], names: `"99999999999"` },
  { argv: [H, P, "-w", "Infinity"], names: `"Infinity"` },
  { argv: [H, P, "-w"], names: "-w" },
  { argv: [H, P, "-d", "x", "-f", "/etc/hostname"], names: "--data and --file" },
  { argv: [H, P, "-z", "-d", "x"], names: "--data and --zero-io" },
  { argv: [H, P, "-4", "-6"], names: "-4 and -6" },
  { argv: [H, P, "-d", "\\q"], names: "\\q" },
  { argv: [H, P, "-d", "\\x4"], names: "\\x4" },
  { argv: [H, P, "-d", "abc\\"], names: "abc\\" },
  { argv: [H, P, "-f", "/nonexistent/tcpc-input"], names: `"/nonexistent/tcpc-input"` },
  { argv: [H, P, "-f", ""], names: `""` },
  { argv: [H, P, "-f", "/"], names: `"/"` },
  { argv: [H, P, "--max-bytes", "0"], names: `"0"` },
  { argv: [H, P, "--max-bytes", "-5"], names: `"-5"` },
  { argv: [H, P, "--max-bytes", "1.5"], names: `"1.5"` },
  { argv: [H, P, "--bogus"], names: "--bogus" },
  { argv: [H, P, "--json=yes"], names: "--json" },
  { argv: [H, P, "extra"], names: `"extra"` },
  { argv: [H], names: "PORT" },
  { argv: ["connect", H, "0"], names: `"0"` },
  { argv: ["connect", H, P, "-t", "-"], names: `"-"` },
];

/** Proxy, source and TLS flags (lib/cli/route.ts): bad values and conflicts. */
const ROUTE_ROWS: Row[] = [
  { argv: [H, P, "--proxy", "socks5://"], names: `"socks5://"` },
  { argv: [H, P, "--proxy", "ftp://127.0.0.1:21"], names: `unknown scheme "ftp"` },
  { argv: [H, P, "--proxy", "127.0.0.1:1080"], names: `"127.0.0.1:1080"` },
  { argv: [H, P, "--proxy", "socks5://127.0.0.1:99999"], names: `"99999"` },
  { argv: [H, P, "--proxy", "http://[::1"], names: `"http://[::1"` },
  { argv: [H, P, "--proxy", "socks5://a b:1080"], names: `"a b"` },
  { argv: [H, P, "--proxy", "socks4://u:p@127.0.0.1:1080"], names: "socks4://u:***@" },
  { argv: [H, P, "--proxy-auth", "u:p"], names: "--proxy-auth needs --proxy" },
  { argv: [H, P, "--proxy-protocol", "v3"], names: `"v3"` },
  {
    argv: [H, P, "-p", "5555", "--proxy", "socks5://127.0.0.1:1080"],
    names: "--source-port and --proxy",
  },
  { argv: [H, P, "-s", "a b"], names: `--source "a b"` },
  { argv: [H, P, "-s", "example.com"], names: `--source "example.com"` },
  { argv: [H, P, "-s", "999.1.1.1"], names: `--source "999.1.1.1"` },
  { argv: [H, P, "--source", ""], names: `--source ""` },
  { argv: [H, P, "-p", "0"], names: `--source-port "0"` },
  { argv: [H, P, "--source-port", "70000"], names: `--source-port "70000"` },
  { argv: [H, P, "-p", "abc"], names: `--source-port "abc"` },
  { argv: [H, P, "--cert", "/etc/hostname"], names: "--cert needs --tls" },
  { argv: [H, P, "--tls", "--cert", "/etc/hostname"], names: "--cert needs --key" },
  { argv: [H, P, "--tls", "--key", "/etc/hostname"], names: "--key needs --cert" },
  { argv: [H, P, "--sni", "example.com"], names: "--sni needs --tls" },
  { argv: [H, P, "--alpn", "h2"], names: "--alpn needs --tls" },
  { argv: [H, P, "--cacert", "/etc/hostname"], names: "--cacert needs --tls" },
  { argv: [H, P, "-k"], names: "--insecure needs --tls" },
  { argv: [H, P, "--starttls", "bogus"], names: `"bogus"` },
  { argv: [H, P, "--tls", "--cacert", "/nonexistent/ca.pem"], names: `"/nonexistent/ca.pem"` },
  { argv: [H, P, "--tls", "--sni", "1.2.3.4"], names: `"1.2.3.4"` },
  { argv: [H, P, "--tls", "--alpn", ""], names: `"" for --alpn` },
];

const SERVE_ROWS: Row[] = [
  { argv: ["serve", "70000"], names: `"70000"` },
  { argv: ["serve", H, "abc"], names: `"abc"` },
  { argv: ["serve", "a b", "8080"], names: `"a b"` },
  { argv: ["serve", "--mode", "bogus", "0"], names: `"bogus"` },
  { argv: ["serve", "1", "2", "3"], names: "PORT" },
  { argv: ["serve", "0", "--bogus"], names: "--bogus" },
];

const KERNEL_ROWS: Row[] = [
  { argv: ["kernel", "extra"], names: `"extra"` },
  { argv: ["kernel", "--bogus"], names: "--bogus" },
  { argv: ["kernel", "--json=1"], names: "--json" },
  { argv: ["kernel", "--root", ""], names: `""` },
];

const DEMO_ROWS: Row[] = [
  { argv: ["demo", "--bogus"], names: "--bogus" },
  { argv: ["demo", "extra"], names: `"extra"` },
];

const ECHO_ROWS: Row[] = [
  { argv: ["echo", H, "0"], names: `"0"` },
  { argv: ["echo", "a b", P], names: `"a b"` },
  { argv: ["echo", H, P, "-c", "0"], names: `"0"` },
  { argv: ["echo", H, P, "--size", "abc"], names: `"abc"` },
  { argv: ["echo", H, P, "-m", "x", "--size", "5"], names: "--message and --size" },
  { argv: ["echo", H, P, "--duration", "0"], names: `"0"` },
  { argv: ["echo", H, P, "-t", "0"], names: `"0"` },
  { argv: ["echo", H, P, "--expect", ""], names: `""` },
  { argv: ["echo", H, P, "-m", "\\z"], names: "\\z" },
  { argv: ["echo", H, P, "-n", "5", "--duration", "1s"], names: "--count and --duration" },
  { argv: ["echo", H, P, "--pipeline", "-2"], names: `"-2"` },
  { argv: ["echo", "::1", P, "-4"], names: `conflicting -4 and host "::1"` },
  { argv: ["echo", H, P, "-6"], names: `conflicting -6 and host "127.0.0.1"` },
  {
    argv: ["echo", H, P, "--size", "268435456", "--pipeline", "65536"],
    names: "--size 268435456 with --pipeline 65536",
  },
];

const PROBE_ROWS: Row[] = [
  { argv: ["probe", "127.0.0.1:10-1"], names: `"10-1"` },
  { argv: ["probe", "127.0.0.1:0"], names: `"0"` },
  { argv: ["probe", "127.0.0.1:65536"], names: `"65536"` },
  { argv: ["probe", "127.0.0.1"], names: `"127.0.0.1"` },
  { argv: ["probe", "::1:80"], names: `"::1:80"` },
  { argv: ["probe", "a b:80"], names: `"a b"` },
  { argv: ["probe", "127.0.0.1:1-2,x"], names: `"x"` },
  { argv: ["probe", `${H}:PORT`, "-c", "0"], names: `"0"` },
  { argv: ["probe", `${H}:PORT`, "-w", "1x"], names: `"1x"` },
  { argv: ["probe", `${H}:PORT`, "--send", "\\xZZ"], names: "\\xZZ" },
  { argv: ["probe", `${H}:PORT`, "--expect-re", "("], names: `"("` },
  { argv: ["probe", "-f", "/nonexistent/tcpc-targets"], names: `"/nonexistent/tcpc-targets"` },
];

const PING_ROWS: Row[] = [
  { argv: ["ping", H, "0"], names: `"0"` },
  { argv: ["ping", "", P], names: `""` },
  { argv: ["ping", H, P, "-n", "-1"], names: `"-1"` },
  { argv: ["ping", H, P, "-n", "abc"], names: `"abc"` },
  { argv: ["ping", H, P, "-i", "NaN"], names: `"NaN"` },
  { argv: ["ping", H, P, "-w", "-1s"], names: `"-1s"` },
  { argv: ["ping", H, P, "-4", "-6"], names: "-4 and -6" },
  { argv: ["ping", "::1", P, "-4"], names: `conflicting -4 and host "::1"` },
  { argv: ["ping", "[::1]", P, "-4"], names: `conflicting -4 and host "::1"` },
  { argv: ["ping", H, P, "-6"], names: `conflicting -6 and host "127.0.0.1"` },
];

/** nc and ncat habits: the message names tcpc's spelling (lib/cli/hints.ts). */
const HINT_ROWS: Row[] = [
  { argv: ["127.0.0.1:7007"], names: "write tcpc 127.0.0.1 7007" },
  { argv: ["-z", H, "20-25"], names: "use tcpc probe 127.0.0.1:20-25" },
  { argv: [H, "20", "21", "22"], names: "use tcpc probe 127.0.0.1:20,21,22" },
  { argv: [H, P, "-l"], names: "unknown option '-l' (nc and ncat: listen): use tcpc listen" },
  { argv: [H, P, "-N"], names: "tcpc always half-closes after stdin EOF" },
  { argv: [H, P, "-u"], names: "tcpc speaks TCP only" },
  { argv: [H, P, "-e", "/bin/sh"], names: "tcpc runs no program" },
  { argv: ["ping", "127.0.0.1:7007"], names: "write tcpc ping 127.0.0.1 7007" },
  { argv: ["echo", H, "7-9"], names: "use tcpc probe 127.0.0.1:7-9" },
];

const ROWS: Row[] = [
  ...HINT_ROWS,
  ...CONNECT_ROWS,
  ...ROUTE_ROWS,
  ...SERVE_ROWS,
  ...KERNEL_ROWS,
  ...DEMO_ROWS,
  ...ECHO_ROWS,
  ...PROBE_ROWS,
  ...PING_ROWS,
];

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], port: number): Promise<Outcome> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--allow-net=127.0.0.1:${port}`,
      "--allow-read",
      "--allow-run=sysctl",
      "--no-prompt",
      "main.ts",
      ...argv.map((arg) => arg.replace(P, String(port))),
    ],
    cwd: REPO,
    env: { RUST_BACKTRACE: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { code, stdout, stderr } = await outputWithin(child, 60_000);
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: cleanStderr(decoder.decode(stderr)) };
}

Deno.test(`tcpc rejects ${ROWS.length} malformed invocations with exit 2 and one line`, async () => {
  assert.ok(ROWS.length >= 40, `at least 40 rows, got ${ROWS.length}`);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let connections = 0;
  const accepting = (async () => {
    for await (const conn of listener) {
      connections++;
      conn.close();
    }
  })().catch(() => {});
  const failures: string[] = [];
  try {
    // Three at a time: the machine has two cores shared with other work.
    const queue = [...ROWS];
    const worker = async () => {
      for (let row = queue.shift(); row !== undefined; row = queue.shift()) {
        const { code, stdout, stderr } = await run(row.argv, port);
        const shown = JSON.stringify(
          row.argv.map((a) => a.length > 40 ? `${a.slice(0, 8)}...` : a),
        );
        const lines = stderr.split("\n").filter((line) => line !== "");
        const line = lines[0] ?? "";
        if (code !== 2) failures.push(`${shown}: exit ${code} (${stderr.trim()})`);
        else if (lines.length !== 1) failures.push(`${shown}: ${lines.length} lines: ${stderr}`);
        else if (!line.startsWith("tcpc")) failures.push(`${shown}: odd line ${line}`);
        else if (!line.includes(row.names)) failures.push(`${shown}: "${line}" lacks ${row.names}`);
        else if (/Stack backtrace|Uncaught|\s+at .+:\d+:\d+/.test(stderr)) {
          failures.push(`${shown}: stack trace: ${stderr}`);
        } else if (stdout !== "") failures.push(`${shown}: stdout ${JSON.stringify(stdout)}`);
      }
    };
    await Promise.all([worker(), worker(), worker()]);
  } finally {
    listener.close();
    await accepting;
  }
  assert.deepEqual(failures, []);
  assert.equal(connections, 0, "no malformed invocation may open a connection");
});

Deno.test("tcpc quotes at most 80 characters of a 100 kB value in a usage error", async () => {
  const big = "x".repeat(100_000);
  const cut = `${"x".repeat(80)}...`;
  const table: [string[], string][] = [
    [
      [big, "80"],
      `tcpc: invalid host "${cut}" (100000 characters): 100000 characters, at most 253`,
    ],
    [
      ["127.0.0.1", big],
      `tcpc: invalid port "${cut}" (100000 characters): must be a number from 1 to 65535`,
    ],
    [
      ["127.0.0.1", "80", "-d", big + "\\q"],
      `tcpc: invalid escape in --data "${cut}" (100002 characters): unknown "\\q"`,
    ],
    [
      ["127.0.0.1", "80", `--${big}`],
      `tcpc: connect: unknown option '--${"x".repeat(78)}...' (100002 characters)`,
    ],
    [
      ["ping", "127.0.0.1", "80", "-i", big],
      `tcpc: invalid duration "${cut}" (100000 characters) for --interval: use e.g. 250ms, 2s, 1.5s, 1m or a number of seconds`,
    ],
    [
      ["probe", "127.0.0.1:80", "--expect-re", `(${big}`],
      `tcpc: invalid --expect-re "(${"x".repeat(79)}..." (100001 characters): Unterminated group`,
    ],
    [
      ["echo", "127.0.0.1", "80", "-n", big],
      `tcpc: invalid value "${cut}" (100000 characters) for --count: must be a whole number 1-9007199254740991`,
    ],
  ];
  for (const [argv, line] of table) {
    const r = await runCli(argv);
    assert.equal(r.code, 2, r.err.slice(0, 300));
    assert.equal(r.err, line + "\n");
  }
});
