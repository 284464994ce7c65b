import assert from "node:assert/strict";
import { NetError } from "../lib/errors.ts";
import type { Conn } from "../lib/net/conn.ts";
import { startTls, type StartTlsProtocol } from "../lib/net/starttls.ts";
import { TcpConn } from "../lib/net/tcp_conn.ts";
import { type ScriptAction, startScripted } from "./peers/scripted.ts";

async function tcp(port: number): Promise<TcpConn> {
  return new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port }));
}

/** Runs `protocol`'s dialog against a scripted peer; resolves to null on success, else the error. */
async function dialogAgainst(
  protocol: StartTlsProtocol,
  script: ScriptAction[],
  clientName?: string,
): Promise<{ err: unknown; address: string }> {
  await using peer = await startScripted(script);
  const address = `127.0.0.1:${peer.port}`;
  const conn = await tcp(peer.port);
  try {
    await startTls(conn, {
      protocol,
      address,
      signal: AbortSignal.timeout(20_000),
      ...(clientName === undefined ? {} : { clientName }),
    });
    return { err: null, address };
  } catch (err) {
    // On failure the dialog closed the conn.
    await assert.rejects(conn.read(new Uint8Array(1)));
    return { err, address };
  } finally {
    try {
      conn.close();
    } catch { /* closed by the dialog */ }
  }
}

/** Asserts a starttls NetError with exactly `detail`. */
async function fails(
  protocol: StartTlsProtocol,
  script: ScriptAction[],
  detail: string,
): Promise<void> {
  const { err, address } = await dialogAgainst(protocol, script);
  assert.ok(err instanceof NetError, `expected a NetError, got ${err}`);
  assert.equal(err.kind, "tls");
  assert.equal(err.op, "starttls");
  assert.equal(err.address, address);
  assert.equal(err.message, `starttls "${address}": ${detail}`);
}

async function succeeds(
  protocol: StartTlsProtocol,
  script: ScriptAction[],
  clientName?: string,
): Promise<void> {
  const { err } = await dialogAgainst(protocol, script, clientName);
  assert.equal(err, null);
}

const LONG = "A".repeat(5000);
const QUOTED_LONG = `"${"A".repeat(120)}..."`;

Deno.test("startTls() smtp: multi-line replies pass and our EHLO name is sent", async () => {
  await succeeds("smtp", [
    { say: "220-mail.test ESMTP\r\n220-second line\r\n220 ready\r\n" },
    { hear: "EHLO tester\r\n" },
    { say: "250-mail.test\r\n250-SIZE 100\r\n250-starttls\r\n250 8BITMIME\r\n" },
    { hear: "STARTTLS\r\n" },
    { say: "220 go ahead\r\n" },
    { pauseMs: 5000 },
  ], "tester");
});

Deno.test("startTls() smtp: each refusal and garbage reply is quoted", async (t) => {
  const greet: ScriptAction = { say: "220 mail.test ESMTP\r\n" };
  const ehlo: ScriptAction = { hear: "EHLO localhost" };
  const cases: [string, ScriptAction[], string][] = [
    [
      "a refusing greeting",
      [{ say: "554 no service here\r\n" }, { pauseMs: 5000 }],
      `the server answered "554 no service here" to the SMTP greeting (220)`,
    ],
    [
      "EHLO refused",
      [greet, ehlo, { say: "502 command not implemented\r\n" }, { pauseMs: 5000 }],
      `the server answered "502 command not implemented" to the reply to EHLO (250)`,
    ],
    [
      "no extensions at all",
      [greet, ehlo, { say: "250 mail.test\r\n" }, { pauseMs: 5000 }],
      `the server does not offer STARTTLS (EHLO reply: "")`,
    ],
    [
      "STARTTLS refused",
      [greet, ehlo, { say: "250-mail.test\r\n250 STARTTLS\r\n" }, { hear: "STARTTLS" }, {
        say: "454 TLS not available due to temporary reason\r\n",
      }, { pauseMs: 5000 }],
      `the server answered "454 TLS not available due to temporary reason" to the reply to STARTTLS (220)`,
    ],
    [
      "garbage in the EHLO reply",
      [greet, ehlo, { say: "250-mail.test\r\nhello\x00there\r\n" }, { pauseMs: 5000 }],
      `unexpected reply while we waited for the reply to EHLO (250): "hello\\x00there"`,
    ],
    [
      "EOF after the greeting",
      [greet, ehlo],
      "the server closed the connection while we waited for the reply to EHLO (250)",
    ],
    [
      "EOF inside a line",
      [greet, ehlo, { say: "250-partial" }],
      `the server closed the connection while we waited for the reply to EHLO (250) after "250-partial"`,
    ],
    [
      "an over-long line",
      [{ say: LONG }, { pauseMs: 5000 }],
      `reply line longer than 4096 bytes while we waited for the SMTP greeting (220): ${QUOTED_LONG}`,
    ],
    [
      "a reply of too many lines",
      [{ say: "220-more\r\n".repeat(101) }, { pauseMs: 5000 }],
      "reply longer than 100 lines while we waited for the SMTP greeting (220)",
    ],
  ];
  for (const [name, script, detail] of cases) {
    await t.step(name, () => fails("smtp", script, detail));
  }
});

Deno.test("startTls() imap: PREAUTH and untagged lines before the tagged OK pass", async () => {
  await succeeds("imap", [
    { say: "* PREAUTH IMAP4rev2 ready\r\n" },
    { hear: "a001 STARTTLS\r\n" },
    { say: "* CAPABILITY IMAP4rev2 STARTTLS\r\n* OK still here\r\na001 OK begin TLS now\r\n" },
    { pauseMs: 5000 },
  ]);
});

Deno.test("startTls() imap: refusals, garbage, EOF and endless untagged data fail", async (t) => {
  const greet: ScriptAction = { say: "* OK IMAP4rev2 ready\r\n" };
  const ask: ScriptAction = { hear: "a001 STARTTLS" };
  const cases: [string, ScriptAction[], string][] = [
    [
      "a BYE greeting",
      [{ say: "* BYE too busy\r\n" }, { pauseMs: 5000 }],
      `unexpected IMAP greeting "* BYE too busy"`,
    ],
    [
      "a NO answer",
      [greet, ask, { say: "a001 NO not now\r\n" }, { pauseMs: 5000 }],
      `the server answered "a001 NO not now" to a001 STARTTLS`,
    ],
    [
      "endless untagged lines",
      [greet, ask, { say: "* OK noise\r\n".repeat(101) }, { pauseMs: 5000 }],
      "no tagged reply to a001 STARTTLS within 100 lines",
    ],
    [
      "EOF before the tagged reply",
      [greet, ask],
      "the server closed the connection while we waited for the reply to a001 STARTTLS (a001 OK)",
    ],
    [
      "EOF before the greeting",
      [],
      "the server closed the connection while we waited for the IMAP greeting (* OK)",
    ],
    [
      "an over-long greeting",
      [{ say: LONG }, { pauseMs: 5000 }],
      `reply line longer than 4096 bytes while we waited for the IMAP greeting (* OK): ${QUOTED_LONG}`,
    ],
  ];
  for (const [name, script, detail] of cases) {
    await t.step(name, () => fails("imap", script, detail));
  }
});

Deno.test("startTls() pop3: the upgrade passes, refusals and EOF fail", async (t) => {
  await t.step("upgrade", () =>
    succeeds("pop3", [
      { say: "+OK POP3 ready\n" },
      { hear: "STLS\r\n" },
      { say: "+OK begin TLS\r\n" },
      { pauseMs: 5000 },
    ]));
  const greet: ScriptAction = { say: "+OK POP3 ready\r\n" };
  const cases: [string, ScriptAction[], string][] = [
    [
      "an -ERR greeting",
      [{ say: "-ERR go away\r\n" }, { pauseMs: 5000 }],
      `unexpected POP3 greeting "-ERR go away"`,
    ],
    [
      "EOF before the STLS reply",
      [greet, { hear: "STLS" }],
      "the server closed the connection while we waited for the reply to STLS (+OK)",
    ],
    [
      "a terminal escape in the reply",
      [greet, { hear: "STLS" }, { say: "-ERR \x1b[2Jno\r\n" }, { pauseMs: 5000 }],
      `the server answered "-ERR \\x1b[2Jno" to STLS`,
    ],
  ];
  for (const [name, script, detail] of cases) {
    await t.step(name, () => fails("pop3", script, detail));
  }
});

Deno.test("startTls() ftp: a multi-line greeting with free-text lines passes (RFC 959 4.2)", async () => {
  await succeeds("ftp", [
    { say: "220-Welcome\r\n  be nice here\r\n220 ready\r\n" },
    { hear: "AUTH TLS\r\n" },
    { say: "234 AUTH TLS ok\r\n" },
    { pauseMs: 5000 },
  ]);
});

Deno.test("startTls() ftp: refusals, garbage and EOF fail", async (t) => {
  const greet: ScriptAction = { say: "220 FTP ready\r\n" };
  const cases: [string, ScriptAction[], string][] = [
    [
      "a 421 greeting",
      [{ say: "421 too many users\r\n" }, { pauseMs: 5000 }],
      `the server answered "421 too many users" to the FTP greeting (220)`,
    ],
    [
      "a greeting that is not FTP",
      [{ say: "HTTP/1.1 400 Bad Request\r\n" }, { pauseMs: 5000 }],
      `unexpected reply while we waited for the FTP greeting (220): "HTTP/1.1 400 Bad Request"`,
    ],
    [
      "EOF before the AUTH reply",
      [greet, { hear: "AUTH TLS" }],
      "the server closed the connection while we waited for the reply to AUTH TLS (234)",
    ],
  ];
  for (const [name, script, detail] of cases) {
    await t.step(name, () => fails("ftp", script, detail));
  }
});

const SSL_REQUEST = new Uint8Array([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

Deno.test("startTls() postgres: S passes, N, other bytes and EOF fail", async (t) => {
  await t.step(
    "S",
    () => succeeds("postgres", [{ hearBytes: SSL_REQUEST }, { say: "S" }, { pauseMs: 5000 }]),
  );
  const cases: [string, ScriptAction[], string][] = [
    [
      "N",
      [{ hearBytes: SSL_REQUEST }, { say: "N" }, { pauseMs: 5000 }],
      `the server refuses SSL (answered "N" to the SSLRequest)`,
    ],
    [
      "an error message instead",
      [{ hearBytes: SSL_REQUEST }, { say: "E" }, { pauseMs: 5000 }],
      `unexpected answer to the SSLRequest: "E" (not a PostgreSQL server, or one too old for SSL)`,
    ],
    [
      "EOF",
      [{ hearBytes: SSL_REQUEST }],
      "the server closed the connection instead of answering the SSLRequest",
    ],
  ];
  for (const [name, script, detail] of cases) {
    await t.step(name, () => fails("postgres", script, detail));
  }
});

Deno.test("startTls() with an aborted signal closes the conn and rejects with its reason", async () => {
  await using peer = await startScripted([{ pauseMs: 5000 }]);
  const conn = await tcp(peer.port);
  const reason = new Error("stopped before the dialog");
  const controller = new AbortController();
  controller.abort(reason);
  await assert.rejects(
    startTls(conn, { protocol: "smtp", address: "x:1", signal: controller.signal }),
    (err) => err === reason,
  );
  await assert.rejects(conn.read(new Uint8Array(1)));
});

Deno.test("startTls() turns a non-NetError failure of the conn into a tls NetError", async () => {
  await using peer = await startScripted([{ pauseMs: 5000 }]);
  const inner = await tcp(peer.port);
  const failing: Conn = {
    read: () => Promise.reject(new Error("read exploded")),
    write: (data) => inner.write(data),
    closeWrite: () => inner.closeWrite(),
    close: () => inner.close(),
    localAddress: inner.localAddress,
    remoteAddress: inner.remoteAddress,
    facts: inner.facts,
  };
  await assert.rejects(
    startTls(failing, { protocol: "imap", address: "127.0.0.1:143" }),
    (err: unknown) => {
      assert.ok(err instanceof NetError);
      assert.equal(err.kind, "tls");
      assert.equal(err.op, "starttls");
      assert.equal(
        err.message,
        `starttls "127.0.0.1:143": STARTTLS dialog failed: Error: read exploded`,
      );
      return true;
    },
  );
  await assert.rejects(inner.read(new Uint8Array(1)));
});
