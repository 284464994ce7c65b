import assert from "node:assert/strict";
import { Interrupted, NetError, UsageError } from "../lib/errors.ts";
import {
  deadlineError,
  isFdExhausted,
  stacklessNetError,
  toNetError,
} from "../lib/net/net_errors.ts";

const coded = (code: string, message = code) => Object.assign(new Error(message), { code });
const timeoutAbort = () => new DOMException("signal timed out", "TimeoutError");

Deno.test("toNetError() classifies each failure class at each phase", () => {
  // [thrown, op, expected kind, expected timer, expected message]
  const table: [unknown, string, string, string | undefined, string][] = [
    [timeoutAbort(), "lookup", "timeout", "connect", 'lookup "x": timed out'],
    [timeoutAbort(), "connect", "timeout", "connect", 'connect "x": timed out'],
    [timeoutAbort(), "tls", "timeout", "connect", 'tls "x": timed out'],
    [timeoutAbort(), "proxy", "timeout", "connect", 'proxy "x": timed out'],
    [
      new Deno.errors.ConnectionRefused("x"),
      "connect",
      "refused",
      undefined,
      'connect "x": connection refused',
    ],
    [coded("ECONNREFUSED"), "connect", "refused", undefined, 'connect "x": connection refused'],
    [
      new Deno.errors.ConnectionReset("x"),
      "read",
      "reset",
      undefined,
      'read "x": connection reset by peer',
    ],
    [coded("ECONNRESET"), "write", "reset", undefined, 'write "x": connection reset by peer'],
    [
      new Deno.errors.BrokenPipe("x"),
      "write",
      "closed",
      undefined,
      'write "x": peer closed the connection before reading all data',
    ],
    [
      coded("EPIPE"),
      "write",
      "closed",
      undefined,
      'write "x": peer closed the connection before reading all data',
    ],
    [
      coded("EHOSTUNREACH"),
      "connect",
      "unreachable",
      undefined,
      'connect "x": host unreachable (EHOSTUNREACH)',
    ],
    [
      coded("ENETUNREACH"),
      "connect",
      "unreachable",
      undefined,
      'connect "x": network unreachable (ENETUNREACH)',
    ],
    [coded("EACCES"), "connect", "unreachable", undefined, 'connect "x": not permitted (EACCES)'],
    [
      new Deno.errors.TimedOut("x"),
      "connect",
      "timeout",
      "kernel",
      'connect "x": the kernel gave up',
    ],
    [
      coded("ENOTFOUND"),
      "lookup",
      "dns",
      undefined,
      'lookup "x": name resolution failed (no such host)',
    ],
    [
      coded("EAI_AGAIN"),
      "lookup",
      "dns",
      undefined,
      'lookup "x": the resolver did not answer (EAI_AGAIN)',
    ],
    [
      new Error("failed to lookup address information: Name or service not known"),
      "connect",
      "dns",
      undefined,
      'connect "x": name resolution failed (no such host)',
    ],
    [
      new Deno.errors.NotCapable("x"),
      "connect",
      "denied",
      undefined,
      'connect "x": denied by the permission sandbox',
    ],
    [coded("EPERM"), "lookup", "denied", undefined, 'lookup "x": denied by the permission sandbox'],
    [
      coded("EMFILE", "Too many open files"),
      "connect",
      "io",
      undefined,
      'connect "x": too many open files',
    ],
    [coded("EADDRINUSE"), "bind", "io", undefined, 'bind "x": address already in use (EADDRINUSE)'],
    [coded("EADDRNOTAVAIL"), "bind", "io", undefined, 'bind "x": address not available'],
    [new Error("something else"), "read", "io", undefined, 'read "x": something else'],
  ];
  for (const [thrown, op, kind, timer, prefix] of table) {
    const err = toNetError(thrown, { op, address: "x" });
    assert.ok(err instanceof NetError, `${op}: ${err}`);
    assert.equal(err.kind, kind, `${op} ${String(thrown)}: ${err.message}`);
    assert.equal(err.timer, timer, err.message);
    assert.ok(err.message.startsWith(prefix), `${err.message} !~ ${prefix}`);
    assert.equal(err.cause, thrown);
  }
});

Deno.test("toNetError() names the deadline's length and flag", () => {
  const err = toNetError(timeoutAbort(), {
    op: "lookup",
    address: "localhost",
    timer: "connect",
    timeoutMs: 1,
    flag: "--connect-timeout",
  }) as NetError;
  assert.equal(err.message, 'lookup "localhost": timed out after 1ms (--connect-timeout)');
  const kernel = toNetError(new Deno.errors.TimedOut("x"), {
    op: "connect",
    address: "10.0.0.1:80",
    kernel: { synRetries: 6, maxConnectMs: 127_000 },
  }) as NetError;
  assert.equal(
    kernel.message,
    'connect "10.0.0.1:80": the kernel gave up after 6 SYN retries (about 2m7s, tcp_syn_retries)',
  );
});

Deno.test("toNetError() passes our own errors through unchanged", () => {
  const ours = [
    new NetError("refused", "connection refused", { op: "connect" }),
    new Interrupted("SIGINT"),
    new UsageError("bad"),
  ];
  for (const err of ours) assert.equal(toNetError(err, { op: "read" }), err);
});

Deno.test("deadlineError() names each loop deadline", () => {
  const table: [Parameters<typeof deadlineError>[0], string, string][] = [
    ["connect", "connect", 'connect "a:1": timed out after 2s'],
    ["first-byte", "read", 'read "a:1": first-byte timeout: no data for 2s'],
    ["idle", "session", 'session "a:1": idle timeout: no traffic for 2s'],
    ["total", "session", 'session "a:1": total timeout: took longer than 2s'],
  ];
  for (const [name, op, message] of table) {
    const err = deadlineError(name, 2000, "a:1");
    assert.equal(err.op, op);
    assert.equal(err.timer, name);
    assert.equal(err.kind, "timeout");
    assert.equal(err.message, message);
  }
});

Deno.test("isFdExhausted() knows EMFILE, ENFILE and the message", () => {
  assert.ok(isFdExhausted(coded("EMFILE")));
  assert.ok(isFdExhausted(coded("ENFILE")));
  assert.ok(isFdExhausted(new Error("Too many open files (os error 24)")));
  assert.ok(!isFdExhausted(coded("ECONNREFUSED")));
});

Deno.test("stacklessNetError() looks like new NetError to every reader but the stack", () => {
  const cause = new Deno.errors.ConnectionRefused("Connection refused (os error 111)");
  const cases: [NetError["kind"], string, ConstructorParameters<typeof NetError>[2]][] = [
    ["refused", "connection refused", { op: "connect", address: "127.0.0.1:9", cause }],
    ["timeout", "timed out after 2s", { op: "connect", address: "[::1]:80", timer: "connect" }],
    ["io", "something", { op: "read" }],
  ];
  for (const [kind, detail, options] of cases) {
    const real = new NetError(kind, detail, options);
    const quick = stacklessNetError(kind, detail, options);
    assert.ok(quick instanceof NetError && quick instanceof Error);
    assert.equal(quick.constructor, NetError);
    for (const key of ["message", "name", "kind", "op", "address", "timer", "cause"] as const) {
      assert.equal(quick[key], real[key], key);
    }
    // Same enumerable own fields in the same order: JSON, spreads and inspect agree.
    assert.deepEqual(Object.keys(quick), Object.keys(real));
    assert.equal(JSON.stringify(quick), JSON.stringify(real));
    assert.equal(String(quick), String(real));
    assert.equal(quick.stack, `NetError: ${real.message}`);
    assert.equal(quick.timeout(), real.timeout());
    quick.message = "rewritten";
    assert.equal(quick.message, "rewritten");
  }
});

Deno.test("toNetError() with stack: false gives the same classification without a stack", () => {
  const thrown = [
    new Deno.errors.ConnectionRefused("x"),
    new Deno.errors.ConnectionReset("x"),
    new Deno.errors.TimedOut("x"),
    new Deno.errors.NotCapable("x"),
    timeoutAbort(),
    coded("EMFILE", "Too many open files"),
    new Error("strange"),
  ];
  for (const err of thrown) {
    const options = { op: "connect", address: "127.0.0.1:1", timeoutMs: 50, flag: "-w" };
    const real = toNetError(err, options) as NetError;
    const quick = toNetError(err, { ...options, stack: false }) as NetError;
    assert.deepEqual(
      [quick.kind, quick.message, quick.timer, quick.cause],
      [real.kind, real.message, real.timer, real.cause],
    );
    assert.ok(quick instanceof NetError);
    assert.equal(quick.stack, `NetError: ${quick.message}`);
  }
});
