import assert from "node:assert/strict";
import {
  errorKind,
  EXIT_CODES,
  exitCodeFor,
  Interrupted,
  NetError,
  UsageError,
  VerifyError,
} from "../lib/errors.ts";

Deno.test("EXIT_CODES is the table the issue promises", () => {
  assert.deepEqual(EXIT_CODES, {
    ok: 0,
    refused: 1,
    reset: 1,
    unreachable: 1,
    closed: 1,
    io: 1,
    usage: 2,
    dns: 3,
    timeout: 4,
    denied: 5,
    verify: 6,
    tls: 7,
    proxy: 8,
    interrupted: 130,
    hangup: 129,
    terminated: 143,
  });
});

Deno.test("errorKind() and exitCodeFor() classify our errors and runtime errors", () => {
  const timeout = new DOMException("signal timed out", "TimeoutError");
  const abort = new DOMException("aborted", "AbortError");
  const table: [unknown, string, number][] = [
    [new UsageError("bad"), "usage", 2],
    [new VerifyError("differs"), "verify", 6],
    [new Interrupted("SIGINT"), "interrupted", 130],
    [new Interrupted("SIGTERM"), "terminated", 143],
    [new Interrupted("SIGHUP"), "hangup", 129],
    [new NetError("refused", "connection refused", { op: "connect" }), "refused", 1],
    [new NetError("dns", "no such host", { op: "lookup" }), "dns", 3],
    [new NetError("timeout", "timed out", { op: "connect", timer: "connect" }), "timeout", 4],
    [new NetError("denied", "denied", { op: "connect" }), "denied", 5],
    [new Deno.errors.ConnectionRefused("x"), "refused", 1],
    [new Deno.errors.ConnectionReset("x"), "reset", 1],
    [new Deno.errors.ConnectionAborted("x"), "reset", 1],
    [new Deno.errors.BrokenPipe("x"), "reset", 1],
    [new Deno.errors.NetworkUnreachable("x"), "unreachable", 1],
    [new Deno.errors.TimedOut("x"), "timeout", 4],
    [new Deno.errors.NotCapable("x"), "denied", 5],
    [new Deno.errors.PermissionDenied("x"), "denied", 5],
    [Object.assign(new Error("x"), { code: "EHOSTUNREACH" }), "unreachable", 1],
    [timeout, "timeout", 4],
    [abort, "io", 1],
    [new Error("anything"), "io", 1],
    ["a string", "io", 1],
    [undefined, "io", 1],
  ];
  for (const [err, kind, code] of table) {
    assert.equal(errorKind(err), kind, String(err));
    assert.equal(exitCodeFor(err), code, String(err));
  }
});

Deno.test("NetError() builds 'op \"address\": detail' and keeps its fields", () => {
  const cause = new Deno.errors.ConnectionRefused("os error 111");
  const err = new NetError("refused", "connection refused", {
    op: "connect",
    address: "127.0.0.1:9",
    cause,
  });
  assert.equal(err.message, `connect "127.0.0.1:9": connection refused`);
  assert.equal(err.name, "NetError");
  assert.equal(err.op, "connect");
  assert.equal(err.address, "127.0.0.1:9");
  assert.equal(err.cause, cause);
  assert.equal(err.timer, undefined);
  assert.equal(err.timeout(), false);
  const late = new NetError("timeout", "idle", { op: "session", timer: "idle" });
  assert.equal(late.message, "session: idle");
  assert.equal(late.address, "");
  assert.equal(late.timer, "idle");
  assert.equal(late.timeout(), true);
});

Deno.test("Interrupted() names the signal", () => {
  assert.equal(new Interrupted("SIGINT").message, "interrupted by SIGINT");
  assert.equal(new Interrupted("SIGTERM").kind, "terminated");
});
