/**
 * `tcpc why` against every fault made for real: each case runs the real CLI
 * inside a private network namespace made here (`unshare -n`, only `lo` up;
 * `-m` too where a custom /etc/hosts and nsswitch.conf are needed), with the
 * fault installed by iptables, `ip route` or a scripted peer. Nothing leaves
 * the namespace. Each test checks the exit code, the layer that failed and key
 * words of the explanation.
 */

import assert from "node:assert/strict";
import { outputWithin, REPO, runCli } from "./peers/cli.ts";
import { startMicrosocks } from "./peers/proxies.ts";
import { freePort } from "./peers/servers.ts";
import { netnsUnavailable, runCliIsolated } from "./peers/netns.ts";
import { makeTlsFixtures, startSocatTls, type TlsFixtures } from "./peers/tls.ts";

const PORT = 2500;

/** Waits (bounded) for a listener on PORT inside the namespace. */
const WAIT_LISTEN =
  `for i in $(seq 100); do ss -ltn | grep -q ':${PORT} ' && break; sleep 0.05; done`;

interface WhyRun {
  code: number;
  out: string;
  err: string;
}

interface NsOptions {
  /** Shell lines run before the CLI (faults, background peers). */
  setup?: string[];
  /** Bind-mount these texts over /etc/hosts and /etc/nsswitch.conf (needs `unshare -m`). */
  hosts?: string;
}

/** Runs `tcpc why ARGS` in fresh network and PID namespaces after `setup`; the peers die with the namespace. */
async function whyInNetns(args: string[], options: NsOptions = {}): Promise<WhyRun> {
  const dir = await Deno.makeTempDir({ prefix: "tcpc-why-" });
  try {
    const lines = ["set -e", "ip link set lo up"];
    // A PID namespace too: when its first process ends, the kernel ends every peer started here.
    const unshare = ["-n", "-p", "-f", "--mount-proc", "--kill-child"];
    if (options.hosts !== undefined) {
      await Deno.writeTextFile(`${dir}/hosts`, options.hosts);
      await Deno.writeTextFile(`${dir}/nsswitch.conf`, "hosts: files\n");
      lines.push(`mount --bind ${dir}/hosts /etc/hosts`);
      lines.push(`mount --bind ${dir}/nsswitch.conf /etc/nsswitch.conf`);
    }
    lines.push(...(options.setup ?? []));
    lines.push(`exec "$0" run -P main.ts why "$@"`);
    const child = new Deno.Command("unshare", {
      args: [...unshare, "sh", "-c", lines.join("\n"), Deno.execPath(), ...args],
      cwd: REPO,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const { code, stdout, stderr } = await outputWithin(child, 60_000);
    const decoder = new TextDecoder();
    return { code, out: decoder.decode(stdout), err: decoder.decode(stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interface JsonLayer {
  layer: string;
  outcome: string;
  ms: number | null;
  explanation: string;
  kind?: string;
}

interface WhyJsonOut {
  target: string;
  dns: { outcome: string; addresses: string[]; explanation: string; resolver: string };
  addresses: { address: string; family: number; layers: JsonLayer[] }[];
  verdict: string;
  kind: string;
  exitCode: number;
}

function parse(run: WhyRun): WhyJsonOut {
  try {
    return JSON.parse(run.out) as WhyJsonOut;
  } catch {
    throw new Error(`not JSON (exit ${run.code}): ${run.out}\n${run.err}`);
  }
}

/** The first failed layer of the only (or the given) address. */
function failedLayer(report: WhyJsonOut, address?: string): JsonLayer {
  const entry = address === undefined
    ? report.addresses[0]
    : report.addresses.find((a) => a.address === address);
  assert.ok(entry, `no address ${address ?? ""} in ${JSON.stringify(report)}`);
  const layer = entry.layers.find((l) => l.outcome === "failed");
  assert.ok(layer, `no failed layer in ${JSON.stringify(entry)}`);
  return layer;
}

/** The namespace check, run once, inside the first test (a check started at load would leak into it). */
let why: Promise<string | null> | undefined;

function nsTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    // The namespace check runs once; without namespaces each case says why it is skipped.
    fn: async (t) => {
      const reason = await (why ??= netnsUnavailable());
      if (reason !== null) {
        await t.step({
          name: `skipped: private network namespaces are unavailable here (${reason})`,
          ignore: true,
          fn: () => {},
        });
        return;
      }
      await fn();
    },
  });
}

nsTest(
  "why: a DROP rule is no answer to the SYN, with the kernel's retry time (exit 4)",
  async () => {
    const run = await whyInNetns(["127.0.0.1", `${PORT}`, "-w", "1s", "--json"], {
      setup: [
        `iptables -w -A INPUT -p tcp --dport ${PORT} --syn -j DROP`,
        "sysctl -q -w net.ipv4.tcp_syn_retries=3",
      ],
    });
    assert.equal(run.code, 4, run.out + run.err);
    const report = parse(run);
    const layer = failedLayer(report);
    assert.equal(layer.layer, "tcp");
    assert.equal(layer.kind, "timeout");
    assert.match(layer.explanation, /no answer to the SYN within 1s \(-w\)/);
    assert.match(layer.explanation, /firewall drops/);
    // tcp_syn_retries=3: 1+2+4+8 s of retries, then 16 s for the last one = 15 s... read from the kernel.
    assert.match(layer.explanation, /tcp_syn_retries=3/);
    assert.match(
      report.verdict,
      /answered the SYN within 1s .*without a deadline a client hangs \d+ s/,
    );
  },
);

nsTest("why: REJECT with tcp-reset is refused (exit 1)", async () => {
  const run = await whyInNetns(["127.0.0.1", `${PORT}`, "--json"], {
    setup: [
      `iptables -w -A INPUT -p tcp --dport ${PORT} -j REJECT --reject-with tcp-reset`,
    ],
  });
  assert.equal(run.code, 1, run.out + run.err);
  const layer = failedLayer(parse(run));
  assert.equal(layer.layer, "tcp");
  assert.equal(layer.kind, "refused");
  assert.match(
    layer.explanation,
    /nothing listens on port 2500.*firewall rejects with a TCP reset/,
  );
});

for (const icmp of ["icmp-host-unreachable", "icmp-admin-prohibited"]) {
  nsTest(`why: REJECT with ${icmp} is host unreachable, explained (exit 1)`, async () => {
    const run = await whyInNetns(["127.0.0.1", `${PORT}`, "--json"], {
      setup: [`iptables -w -A INPUT -p tcp --dport ${PORT} -j REJECT --reject-with ${icmp}`],
    });
    assert.equal(run.code, 1, run.out + run.err);
    const report = parse(run);
    const layer = failedLayer(report);
    assert.equal(layer.layer, "tcp");
    assert.equal(layer.kind, "unreachable");
    assert.match(layer.explanation, /EHOSTUNREACH/);
    assert.match(layer.explanation, /ICMP host-unreachable or administratively-prohibited/);
    assert.ok(layer.explanation.includes(icmp), layer.explanation);
    assert.match(report.verdict, /host unreachable/);
  });
}

nsTest("why: an 'unreachable' route is host unreachable (exit 1)", async () => {
  // A dummy interface is not available everywhere: the 10.x address sits on lo, inside the namespace.
  const run = await whyInNetns(["10.9.9.9", `${PORT}`, "--json"], {
    setup: ["ip addr add 10.9.0.1/24 dev lo", "ip route add unreachable 10.9.9.9/32"],
  });
  assert.equal(run.code, 1, run.out + run.err);
  const layer = failedLayer(parse(run));
  assert.equal(layer.layer, "tcp");
  assert.equal(layer.kind, "unreachable");
  assert.match(layer.explanation, /EHOSTUNREACH.*'unreachable' route/);
});

nsTest("why: a 'prohibit' route is administratively prohibited (EACCES, exit 1)", async () => {
  const run = await whyInNetns(["10.9.9.9", `${PORT}`, "--json"], {
    setup: ["ip addr add 10.9.0.1/24 dev lo", "ip route add prohibit 10.9.9.9/32"],
  });
  assert.equal(run.code, 1, run.out + run.err);
  const report = parse(run);
  const layer = failedLayer(report);
  assert.equal(layer.layer, "tcp");
  assert.equal(layer.kind, "unreachable");
  assert.match(layer.explanation, /administratively prohibited \(EACCES\).*'prohibit' route/);
  assert.doesNotMatch(layer.explanation, /sandbox/);
});

const DUAL_HOSTS = "127.0.0.1 localhost\n::1 localhost\n";

nsTest(
  "why: listening on 127.0.0.1 only while localhost is also ::1: works, says IPv6 fails (exit 0)",
  async () => {
    const run = await whyInNetns(["localhost", `${PORT}`, "--json"], {
      hosts: DUAL_HOSTS,
      setup: [
        `socat TCP-LISTEN:${PORT},bind=127.0.0.1,fork,reuseaddr EXEC:'sleep 5' >/dev/null 2>&1 &`,
        WAIT_LISTEN,
      ],
    });
    assert.equal(run.code, 0, run.out + run.err);
    const report = parse(run);
    assert.deepEqual([...report.dns.addresses].sort(), ["127.0.0.1", "::1"]);
    assert.match(report.dns.resolver, /\/etc\/hosts lists it/);
    const v4 = report.addresses.find((a) => a.address === "127.0.0.1")!;
    assert.ok(v4.layers.every((l) => l.outcome === "ok"), JSON.stringify(v4));
    const layer = failedLayer(report, "::1");
    assert.equal(layer.layer, "tcp");
    assert.equal(layer.kind, "refused");
    assert.match(
      report.verdict,
      /^127\.0\.0\.1:2500 works; \[::1\]:2500 refused — clients that try IPv6 first get an error$/,
    );
  },
);

/**
 * A peer on 127.0.0.1:PORT that accepts each connection, waits `delay` seconds,
 * then aborts it with a reset (SO_LINGER 0).
 */
function resetPeer(delay: number): string {
  return `python3 -c '
import socket, struct, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", ${PORT}))
s.listen()
while True:
    c, _ = s.accept()
    time.sleep(${delay})
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
' >/dev/null 2>&1 &`;
}

/** A peer that accepts and aborts each connection with a reset at once. */
const RESET_PEER = resetPeer(0);

/** A peer that listens and never accepts: the kernel completes handshakes, nothing is ever sent. */
const SILENT_PEER = `python3 -c '
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", ${PORT}))
s.listen()
time.sleep(60)
' >/dev/null 2>&1 &`;

nsTest("why: accepted then reset (exit 1)", async () => {
  const run = await whyInNetns(["127.0.0.1", `${PORT}`, "--json"], {
    setup: [RESET_PEER, WAIT_LISTEN],
  });
  assert.equal(run.code, 1, run.out + run.err);
  const report = parse(run);
  const layer = failedLayer(report);
  assert.equal(layer.layer, "first-byte");
  assert.equal(layer.kind, "reset");
  assert.match(layer.explanation, /accepted, then reset/);
  assert.match(report.verdict, /reachable, but the server accepted, then reset/);
});

nsTest("why: accepted then silent with --expect (exit 4)", async () => {
  const run = await whyInNetns(
    ["127.0.0.1", `${PORT}`, "--expect", "220", "-t", "1s", "--json"],
    { setup: [SILENT_PEER, WAIT_LISTEN] },
  );
  assert.equal(run.code, 4, run.out + run.err);
  const report = parse(run);
  const layer = failedLayer(report);
  assert.equal(layer.layer, "first-byte");
  assert.equal(layer.kind, "timeout");
  assert.match(layer.explanation, /accepted, then silent for 1s \(-t\) while --expect "220"/);
  assert.match(layer.explanation, /server speaks first.*accept queue is full.*proxy/);
  const steps = report.addresses[0]!.layers.filter((l) => l.layer === "step");
  assert.equal(steps.length, 1);
  assert.equal(steps[0]!.outcome, "failed");
});

nsTest("why: a name that does not resolve is a DNS failure (exit 3)", async () => {
  const run = await whyInNetns(["nosuchhost.invalid", `${PORT}`, "--json"], {
    hosts: "127.0.0.1 localhost\n",
  });
  assert.equal(run.code, 3, run.out + run.err);
  const report = parse(run);
  assert.equal(report.dns.outcome, "failed");
  assert.match(report.dns.explanation, /no address for "nosuchhost\.invalid"/);
  assert.match(report.verdict, /not in \/etc\/hosts, and DNS is not consulted/);
  assert.match(report.dns.resolver, /hosts: files.*not in \/etc\/hosts, and DNS is not consulted/);
  assert.equal(report.addresses.length, 0);
  assert.match(report.verdict, /does not resolve/);
});

let fixtures: TlsFixtures | undefined;
async function tlsFixtures(): Promise<TlsFixtures> {
  fixtures ??= await makeTlsFixtures();
  return fixtures;
}

function opensslServer(cert: { cert: string; key: string }): string {
  return `openssl s_server -accept 127.0.0.1:${PORT} -cert ${cert.cert} -key ${cert.key} ` +
    `-www -quiet >/dev/null 2>&1 &`;
}

nsTest("why: an expired certificate: reachable, expired N days ago (exit 7)", async () => {
  const tls = await tlsFixtures();
  const run = await whyInNetns(
    ["127.0.0.1", `${PORT}`, "--tls", "--cacert", tls.ca.cert, "--json"],
    { setup: [opensslServer(tls.expired), WAIT_LISTEN] },
  );
  assert.equal(run.code, 7, run.out + run.err);
  const report = parse(run);
  const layer = failedLayer(report);
  assert.equal(layer.layer, "tls");
  assert.equal(layer.kind, "tls");
  assert.match(layer.explanation, /the certificate expired \d+ days ago \(notAfter 2021-01-01\)/);
  assert.match(
    report.verdict,
    /^reachable, but the certificate expired \d+ days ago \(notAfter 2021-01-01\)$/,
  );
});

nsTest("why: a wrong-name certificate lists the names it holds (exit 7)", async () => {
  const tls = await tlsFixtures();
  const run = await whyInNetns(
    ["127.0.0.1", `${PORT}`, "--tls", "--sni", "localhost", "--cacert", tls.ca.cert, "--json"],
    { setup: [opensslServer(tls.wrongName), WAIT_LISTEN] },
  );
  assert.equal(run.code, 7, run.out + run.err);
  const layer = failedLayer(parse(run));
  assert.equal(layer.layer, "tls");
  assert.match(layer.explanation, /does not match "localhost"/);
  assert.match(layer.explanation, /"wrong\.example", "other\.example"/);
});

nsTest("why: text report, one block per address, ASCII marks off a terminal", async () => {
  const run = await whyInNetns(["localhost", `${PORT}`, "-w", "2s"], {
    hosts: DUAL_HOSTS,
    setup: [
      `socat TCP-LISTEN:${PORT},bind=127.0.0.1,fork,reuseaddr EXEC:'sleep 5' >/dev/null 2>&1 &`,
      WAIT_LISTEN,
    ],
  });
  assert.equal(run.code, 0, run.out + run.err);
  const lines = run.out.trimEnd().split("\n");
  assert.equal(lines[0], `why localhost:${PORT}`);
  assert.match(lines[1]!, /^ok +dns .*localhost -> /);
  assert.ok(lines.includes(`127.0.0.1:${PORT}`), run.out);
  assert.ok(lines.includes(`[::1]:${PORT}`), run.out);
  assert.ok(lines.some((l) => /^ {2}FAIL tcp .* refused: /.test(l)), run.out);
  assert.ok(lines.some((l) => /^ {2}ok +first-byte .* nothing within 500ms/.test(l)), run.out);
  assert.match(lines.at(-1)!, /^verdict: 127\.0\.0\.1:2500 works; \[::1\]:2500 refused - /);
  assert.doesNotMatch(run.out, /[✓✗·—]/);
});

Deno.test("why: TLS and steps that all pass on loopback: every layer ok (exit 0)", async () => {
  const tls = await tlsFixtures();
  await using peer = await startSocatTls({ cert: tls.good.cert, key: tls.good.key });
  const run = await runCli([
    "why",
    "127.0.0.1",
    `${peer.port}`,
    "--tls",
    "--cacert",
    tls.ca.cert,
    "--send",
    "PING\\r\\n",
    "--expect",
    "PING",
    "--json",
  ]);
  assert.equal(run.code, 0, run.out + run.err);
  const report = parse(run);
  const layers = report.addresses[0]!.layers;
  assert.deepEqual(layers.map((l) => [l.layer, l.outcome]), [
    ["tcp", "ok"],
    ["tls", "ok"],
    ["first-byte", "ok"],
    ["step", "ok"],
    ["step", "ok"],
  ]);
  assert.match(layers[1]!.explanation, /verified/);
  assert.equal(report.verdict, `127.0.0.1:${peer.port} works`);
});

Deno.test("why: through a SOCKS5 proxy, a refused target fails at the proxy layer (exit 1)", async () => {
  await using proxy = await startMicrosocks();
  const closed = freePort();
  const run = await runCli([
    "why",
    "127.0.0.1",
    `${closed}`,
    "--proxy",
    `socks5://${proxy.address}`,
    "--json",
  ]);
  assert.equal(run.code, 1, run.out + run.err);
  const report = parse(run);
  assert.equal(report.addresses[0]!.address, "127.0.0.1");
  const layer = failedLayer(report);
  assert.equal(layer.layer, "proxy");
  assert.equal(layer.kind, "refused");
  assert.match(layer.explanation, /proxy answered, but could not reach the target/);
  assert.match(report.verdict, /through the socks5 proxy/);
});

Deno.test("why: a proxy that does not listen is the proxy's failure (exit 8)", async () => {
  const run = await runCli([
    "why",
    "127.0.0.1",
    "80",
    "--proxy",
    `socks5://user:s3cret@127.0.0.1:${freePort()}`,
    "--json",
  ]);
  assert.equal(run.code, 8, run.out + run.err);
  const layer = failedLayer(parse(run));
  assert.equal(layer.layer, "tcp");
  assert.equal(layer.kind, "proxy");
  assert.match(layer.explanation, /the socks5 proxy host answered the SYN with a TCP reset/);
  assert.doesNotMatch(run.out + run.err, /s3cret/);
});

Deno.test("why: bad input is a usage error before any socket opens (exit 2)", async () => {
  const run = await runCli(["why", "localhost", "0"]);
  assert.equal(run.code, 2, run.out + run.err);
  assert.match(run.err, /invalid port "0"/);
});

nsTest("why: no route to the network is network unreachable (ENETUNREACH, exit 1)", async () => {
  // Only lo is up in the namespace: 10.9.9.9 has no route at all.
  const run = await whyInNetns(["10.9.9.9", `${PORT}`, "--json"]);
  assert.equal(run.code, 1, run.out + run.err);
  const report = parse(run);
  const layer = failedLayer(report);
  assert.equal(layer.layer, "tcp");
  assert.equal(layer.kind, "unreachable");
  assert.match(layer.explanation, /^network unreachable \(ENETUNREACH\): .*check `ip route`/);
  assert.equal(
    report.verdict,
    `10.9.9.9:${PORT}: network unreachable (ENETUNREACH); ` +
      "no route to that network, or a router says so with ICMP",
  );
});

/** socat on one loopback address of PORT: `v4` or `v6`, answering with `what` (an address). */
function socatOn(family: "v4" | "v6", what: string): string {
  const listen = family === "v4"
    ? `TCP4-LISTEN:${PORT},bind=127.0.0.1,fork,reuseaddr`
    : `TCP6-LISTEN:${PORT},bind=[::1],ipv6only=1,fork,reuseaddr`;
  return `socat ${listen} ${what} >/dev/null 2>&1 &`;
}

/** Waits (bounded) until PORT listens on both loopback addresses. */
const WAIT_LISTEN_BOTH = `for i in $(seq 100); do ` +
  `[ "$(ss -ltnH "sport = :${PORT}" | wc -l)" -ge 2 ] && break; sleep 0.05; done`;

nsTest("why: IPv6 SYNs dropped while IPv4 works: IPv6-first clients wait (exit 0)", async () => {
  const run = await whyInNetns(["localhost", `${PORT}`, "-w", "1s", "--json"], {
    hosts: DUAL_HOSTS,
    setup: [
      `ip6tables -w -A INPUT -p tcp --dport ${PORT} --syn -j DROP`,
      socatOn("v4", "EXEC:'sleep 5'"),
      WAIT_LISTEN,
    ],
  });
  assert.equal(run.code, 0, run.out + run.err);
  const report = parse(run);
  const layer = failedLayer(report, "::1");
  assert.equal(layer.kind, "timeout");
  assert.equal(
    report.verdict,
    `127.0.0.1:${PORT} works; [::1]:${PORT} no answer to the SYN within 1s — clients that ` +
      "try IPv6 first wait for their own timeout (Happy Eyeballs clients fall back after 250 ms)",
  );
});

nsTest(
  "why: IPv4 works while IPv6 accepts and closes: IPv6-first clients fail the same way",
  async () => {
    const run = await whyInNetns(["localhost", `${PORT}`, "--json"], {
      hosts: DUAL_HOSTS,
      setup: [socatOn("v4", "EXEC:'sleep 5'"), socatOn("v6", "/dev/null"), WAIT_LISTEN_BOTH],
    });
    assert.equal(run.code, 0, run.out + run.err);
    const report = parse(run);
    const layer = failedLayer(report, "::1");
    assert.equal(layer.layer, "first-byte");
    assert.equal(layer.kind, "closed");
    assert.equal(
      report.verdict,
      `127.0.0.1:${PORT} works; [::1]:${PORT} the server accepted, then closed without a byte — ` +
        "clients that try IPv6 first fail the same way",
    );
  },
);

nsTest("why: both addresses work: the verdict counts them (exit 0)", async () => {
  const run = await whyInNetns(["localhost", `${PORT}`, "--json"], {
    hosts: DUAL_HOSTS,
    setup: [
      socatOn("v4", "EXEC:'sleep 5'"),
      socatOn("v6", "EXEC:'sleep 5'"),
      WAIT_LISTEN_BOTH,
    ],
  });
  assert.equal(run.code, 0, run.out + run.err);
  const report = parse(run);
  assert.match(report.verdict, / works \(all 2 addresses\)$/);
  assert.match(report.verdict, /127\.0\.0\.1:2500/);
  assert.match(report.verdict, /\[::1\]:2500/);
});

nsTest("why: nothing listens on either address: every address refused (exit 1)", async () => {
  const run = await whyInNetns(["localhost", `${PORT}`, "--json"], { hosts: DUAL_HOSTS });
  assert.equal(run.code, 1, run.out + run.err);
  const report = parse(run);
  assert.match(
    report.verdict,
    /^every address \((\[::1\]:2500, 127\.0\.0\.1:2500|127\.0\.0\.1:2500, \[::1\]:2500)\): refused; nothing listens on port 2500, or a firewall rejects with a TCP reset$/,
  );
});

nsTest("why: both addresses accept and close: one verdict for every address (exit 1)", async () => {
  const run = await whyInNetns(["localhost", `${PORT}`, "--json"], {
    hosts: DUAL_HOSTS,
    setup: [socatOn("v4", "/dev/null"), socatOn("v6", "/dev/null"), WAIT_LISTEN_BOTH],
  });
  assert.equal(run.code, 1, run.out + run.err);
  const report = parse(run);
  assert.match(
    report.verdict,
    /^reachable, but the server accepted, then closed without a byte \(.*\) \(every address \(.*\[::1\]:2500.*\)\)$/,
  );
});

nsTest(
  "why: different failures per address: the one that got furthest decides (exit 4)",
  async () => {
    // IPv6 refused at the SYN; IPv4 accepted, then silent while --expect waits: a timeout (exit 4).
    const run = await whyInNetns(
      ["localhost", `${PORT}`, "--expect", "220", "-t", "1s", "--json"],
      { hosts: DUAL_HOSTS, setup: [SILENT_PEER, WAIT_LISTEN] },
    );
    assert.equal(run.code, 4, run.out + run.err);
    const report = parse(run);
    assert.equal(report.kind, "timeout");
    assert.match(report.verdict, /^no address works: /);
    assert.match(report.verdict, /\[::1\]:2500 refused/);
    assert.match(
      report.verdict,
      /127\.0\.0\.1:2500 reachable, but the server accepted, then stayed silent for 1s/,
    );
  },
);

/** A peer that accepts, waits a little, then aborts each connection with a reset. */
const LATE_RESET_PEER = resetPeer(0.3);

nsTest(
  "why: a reset while listening for the first byte is accepted, then reset (exit 1)",
  async () => {
    const run = await whyInNetns(["127.0.0.1", `${PORT}`, "-t", "20s", "--json"], {
      setup: [LATE_RESET_PEER, WAIT_LISTEN],
    });
    assert.equal(run.code, 1, run.out + run.err);
    const report = parse(run);
    const layers = report.addresses[0]!.layers;
    assert.equal(layers[0]!.outcome, "ok");
    const layer = failedLayer(report);
    assert.equal(layer.layer, "first-byte");
    assert.equal(layer.kind, "reset");
    assert.match(layer.explanation, /^accepted, then reset: /);
  },
);

nsTest(
  "why: an immediate reset with --tls fails the tls layer (a reset, or a close in the handshake)",
  async () => {
    const run = await whyInNetns(["127.0.0.1", `${PORT}`, "--tls", "--json"], {
      setup: [RESET_PEER, WAIT_LISTEN],
    });
    const report = parse(run);
    const layer = failedLayer(report);
    // Whether the reset beats connect() or arrives in the handshake, the tls
    // layer is the one that fails. Before connect() returned it is "accepted,
    // then reset" (exit 1); during the handshake, node:tls reports the reset as
    // a close, and tcpc says the peer closed it during the handshake (exit 7).
    assert.equal(layer.layer, "tls");
    if (layer.kind === "reset") {
      assert.equal(run.code, 1, run.out + run.err);
      assert.match(layer.explanation, /^accepted, then reset/);
    } else {
      assert.equal(layer.kind, "tls", JSON.stringify(layer));
      assert.equal(run.code, 7, run.out + run.err);
      assert.match(layer.explanation, /^the peer closed the connection during the handshake/);
    }
  },
);

nsTest("why: a resolver that never answers within -w is a timeout (exit 4)", async () => {
  const run = await runCliIsolated(["why", "nosuchhost.test", `${PORT}`, "-w", "300ms", "--json"], {
    resolver: "silent",
  });
  assert.equal(run.code, 4, run.out + run.err);
  const report = JSON.parse(run.out) as WhyJsonOut & { dns: { kind: string } };
  assert.equal(report.dns.kind, "timeout");
  assert.match(
    report.dns.explanation,
    /^no answer from the resolver within 300ms \(-w\); check the nameservers/,
  );
  assert.equal(
    report.verdict,
    '"nosuchhost.test" does not resolve: no answer from the resolver within 300ms',
  );
});

nsTest("why: a resolver that gives up is EAI_AGAIN, explained (exit 3)", async () => {
  // resolv.conf says timeout:1 attempts:1: glibc gives up long before -w 20s.
  const run = await runCliIsolated(["why", "nosuchhost.test", `${PORT}`, "-w", "20s"], {
    resolver: "silent",
  });
  assert.equal(run.code, 3, run.out + run.err);
  const lines = run.out.trimEnd().split("\n");
  assert.match(
    lines[1]!,
    /^FAIL dns +\S+ +nosuchhost\.test: the resolver did not answer \(EAI_AGAIN/,
  );
  assert.match(lines[1]!, /\[system resolver \(getaddrinfo; nsswitch "hosts: files dns"\)/);
  assert.equal(
    lines.at(-1),
    'verdict: "nosuchhost.test" does not resolve: the resolver did not answer (EAI_AGAIN); ' +
      "not in /etc/hosts, so DNS (nameserver 127.0.0.1)",
  );
});

nsTest("why: -6 for a name /etc/hosts lists with IPv4 only: no address (exit 3)", async () => {
  const run = await runCliIsolated(["why", "onlyfour", `${PORT}`, "-6", "--json"], {
    hosts: ["127.0.0.1 onlyfour"],
  });
  assert.equal(run.code, 3, run.out + run.err);
  const report = parse(run);
  assert.equal(report.dns.outcome, "failed");
  assert.match(report.dns.explanation, /^no address for "onlyfour" \(ENOTFOUND\)/);
  assert.match(report.dns.resolver, /\/etc\/hosts lists it only with IPv4 addresses, and -6 asks/);
  assert.equal(report.addresses.length, 0);
});

Deno.test("why: the permission sandbox denying the connect or the lookup is exit 5", async () => {
  const peer = freePort();
  const connect = await runCli(["why", "127.0.0.1", `${peer}`], {
    permissions: ["--allow-read", "--allow-net=127.0.0.1:1"],
  });
  assert.equal(connect.code, 5, connect.out + connect.err);
  assert.match(
    connect.out,
    /^ {2}FAIL tcp .* denied by the permission sandbox: run with --allow-net/m,
  );
  assert.match(connect.out, /^verdict: 127\.0\.0\.1:\d+: denied by the permission sandbox$/m);
  const lookup = await runCli(["why", "localhost", `${peer}`, "--json"], {
    permissions: ["--allow-read", "--allow-net=127.0.0.1"],
  });
  assert.equal(lookup.code, 5, lookup.out + lookup.err);
  const report = parse(lookup);
  assert.equal(report.dns.outcome, "failed");
  assert.match(report.verdict, /^"localhost" does not resolve: .*denied by the permission sandbox/);
});

Deno.test("why: on a terminal the text report uses ✓ ✗ · marks", async () => {
  // script(1) gives the CLI a pseudo-terminal as stdout. NO_COLOR would turn the marks off: the
  // shell drops it (the environment is otherwise kept, e.g. for coverage of the child).
  const command =
    `unset NO_COLOR; exec '${Deno.execPath()}' run -P main.ts why 127.0.0.1 ${freePort()}`;
  const child = new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { code, stdout } = await outputWithin(child, 60_000);
  const out = new TextDecoder().decode(stdout).replaceAll("\r\n", "\n");
  assert.equal(code, 1, out);
  assert.match(out, /^· +dns /m);
  assert.match(out, /^ {2}✗ tcp .* refused: /m);
  assert.match(out, /^ {2}· first-byte /m);
  assert.match(out, /^verdict: 127\.0\.0\.1:\d+: refused; nothing listens/m);
});

Deno.test({
  name: "why: remove the TLS fixtures",
  fn: async () => {
    await fixtures?.remove();
  },
});
