import assert from "node:assert/strict";
import { DialogVerifyError, runDialog } from "../lib/net/dialog.ts";
import { presetNames, PRESETS } from "../lib/net/presets.ts";
import { TcpConn } from "../lib/net/tcp_conn.ts";
import { type Peer, startProcess, startRedis } from "./peers/servers.ts";
import { type ScriptAction, startScripted } from "./peers/scripted.ts";
import { postgresBin, startPostgres } from "./peers/postgres.ts";

async function runPreset(name: string, port: number, stepTimeoutMs = 5000) {
  const preset = PRESETS[name];
  assert.ok(preset, name);
  const conn = new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port }));
  try {
    return await runDialog(conn, {
      steps: preset.steps({ host: "127.0.0.1", port }),
      address: `127.0.0.1:${port}`,
      stepTimeoutMs,
    });
  } finally {
    conn.close();
  }
}

Deno.test("PRESETS holds every protocol the contract names, with label and STARTTLS", () => {
  const table: [string, string, string | null, number][] = [
    ["ftp", "FTP", "ftp", 21],
    ["http", "HTTP", null, 80],
    ["imap", "IMAP", "imap", 143],
    ["memcached", "MEMCACHED", null, 11211],
    ["pop3", "POP", "pop3", 110],
    ["postgres", "POSTGRES", "postgres", 5432],
    ["redis", "REDIS", null, 6379],
    ["smtp", "SMTP", "smtp", 25],
    ["ssh", "SSH", null, 22],
  ];
  assert.deepEqual(presetNames(), table.map(([name]) => name));
  for (const [name, label, starttls, port] of table) {
    const preset = PRESETS[name];
    assert.ok(preset);
    assert.equal(preset.name, name);
    assert.equal(preset.label, label);
    assert.equal(preset.starttls, starttls);
    assert.equal(preset.defaultPort, port);
    const steps = preset.steps({ host: "example.test", port });
    assert.ok(steps.length > 0);
    for (const step of steps) {
      assert.ok(step.text.length > 0);
      // A step's text is escaped for display: no raw control character.
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(step.text, /[\x00-\x1f]/);
    }
  }
});

Deno.test("PRESETS.http sends HEAD with a Host header that names a non-default port", () => {
  const dec = new TextDecoder();
  const bytesOf = (host: string, port: number) => {
    const step = PRESETS.http?.steps({ host, port })[0];
    assert.ok(step && step.kind === "send");
    return dec.decode(step.bytes);
  };
  assert.match(bytesOf("example.test", 80), /^HEAD \/ HTTP\/1\.1\r\nHost: example\.test\r\n/);
  assert.match(bytesOf("example.test", 8080), /\r\nHost: example\.test:8080\r\n/);
  assert.match(bytesOf("::1", 8080), /\r\nHost: \[::1\]:8080\r\n/);
  assert.ok(bytesOf("a", 80).endsWith("\r\n\r\n"));
});

Deno.test("PRESETS.postgres sends the SSLRequest bytes (length 8, code 80877103)", () => {
  const step = PRESETS.postgres?.steps({ host: "h", port: 5432 })[0];
  assert.ok(step && step.kind === "send-hex");
  const view = new DataView(step.bytes.buffer);
  assert.equal(step.bytes.length, 8);
  assert.equal(view.getInt32(0), 8);
  assert.equal(view.getInt32(4), 80877103);
});

const scripts: Record<string, ScriptAction[]> = {
  // Multi-line greeting, split across two segments, and a multi-line EHLO reply.
  smtp: [
    { say: "220-mail.test ESMTP\r\n" },
    { pauseMs: 50 },
    { say: "220 mail.test ready\r\n" },
    { hear: "EHLO " },
    { say: "250-mail.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n" },
    { hear: "QUIT" },
    { say: "221 2.0.0 bye\r\n" },
  ],
  imap: [
    { say: "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n" },
    { hear: "a1 LOGOUT" },
    { say: "* BYE logging out\r\na1 OK LOGOUT completed\r\n" },
  ],
  pop3: [{ say: "+OK POP3 ready\r\n" }, { hear: "QUIT" }, { say: "+OK bye\r\n" }],
  ftp: [
    { say: "220-Welcome\r\n220-to the test\r\n220 FTP ready\r\n" },
    { hear: "QUIT" },
    { say: "221 Goodbye.\r\n" },
  ],
  // RFC 4253 section 4.2: other lines may come before the identification string.
  ssh: [{ say: "hello there\r\nSSH-2.0-OpenSSH_9.6 Debian\r\n" }, { pauseMs: 5000 }],
  postgres: [{ hearBytes: Uint8Array.of(0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f) }, { say: "N" }],
};

for (const [name, script] of Object.entries(scripts)) {
  Deno.test(`PRESETS.${name} completes against a scripted ${name} server`, async () => {
    await using peer = await startScripted(script);
    const result = await runPreset(name, peer.port);
    assert.equal(result.error, null);
    assert.ok(result.steps.every((s) => s.ok));
  });
}

Deno.test("PRESETS.postgres accepts S and an ErrorResponse, refuses anything else", async () => {
  const ssl = [0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f];
  for (
    const [answer, ok] of [["S", true], ["E\x00\x00\x00\x10SFATAL", true], ["HTTP/1.1", false]]
  ) {
    await using peer = await startScripted([
      { hearBytes: Uint8Array.from(ssl) },
      { say: answer as string },
    ]);
    const result = await runPreset("postgres", peer.port);
    assert.equal(result.ok, ok, String(answer));
  }
});

Deno.test("PRESETS.smtp against a POP3 server fails at step 1 and quotes the greeting", async () => {
  await using peer = await startScripted(scripts.pop3 ?? []);
  const result = await runPreset("smtp", peer.port, 300);
  assert.ok(result.error instanceof DialogVerifyError);
  assert.equal(result.error.step, 1);
  assert.equal(result.error.received, "+OK POP3 ready\\r\\n");
});

Deno.test("PRESETS.smtp fails at step 3 when EHLO is refused", async () => {
  await using peer = await startScripted([
    { say: "220 mail.test\r\n" },
    { hear: "EHLO" },
    { say: "502 5.5.1 command not implemented\r\n" },
    { pauseMs: 5000 },
  ]);
  const result = await runPreset("smtp", peer.port, 300);
  assert.ok(result.error instanceof DialogVerifyError);
  assert.equal(result.error.step, 3);
  assert.match(result.error.message, /step 3 \(--expect-re "\^250/);
});

Deno.test("PRESETS.redis completes against a real redis-server", async () => {
  await using redis = await startRedis();
  const result = await runPreset("redis", redis.port);
  assert.equal(result.error, null);
});

Deno.test("PRESETS.memcached completes against a real memcached", async () => {
  await using peer: Peer = await startProcess("memcached", (port) => [
    "-l",
    "127.0.0.1",
    "-p",
    String(port),
    "-U",
    "0",
    "-u",
    "nobody",
  ]);
  const result = await runPreset("memcached", peer.port);
  assert.equal(result.error, null);
  assert.match(result.steps[1]?.received ?? "", /^VERSION \d/);
});

Deno.test("PRESETS.http completes against python3 -m http.server", async () => {
  await using peer = await startProcess("python3", (port) => [
    "-m",
    "http.server",
    "--bind",
    "127.0.0.1",
    String(port),
  ]);
  const result = await runPreset("http", peer.port);
  assert.equal(result.error, null);
  assert.match(result.steps[1]?.received ?? "", /^HTTP\/1\.[01] 200/);
});

Deno.test("PRESETS.postgres gets N from a real PostgreSQL without SSL", async () => {
  const bin = postgresBin();
  assert.ok(bin, "PostgreSQL is not installed (Debian package postgresql)");
  await using pg = await startPostgres(bin);
  const result = await runPreset("postgres", pg.port);
  assert.equal(result.error, null);
  assert.equal(result.steps[1]?.received, "N");
});
