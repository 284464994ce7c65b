import assert from "node:assert/strict";
import {
  type NagiosOutcome,
  nagiosState,
  renderNagios,
  type RenderNagiosOptions,
} from "../lib/report/nagios.ts";

const base: NagiosOutcome = {
  label: "TCP",
  host: "127.0.0.1",
  port: 18801,
  result: { type: "ok", received: null },
  responseMs: 0.335,
  timeoutMs: 10_000,
  extraPerf: [],
};

Deno.test("renderNagios() prints check_tcp's lines and states", () => {
  const table: [Partial<NagiosOutcome>, RenderNagiosOptions, number, string][] = [
    [
      {},
      {},
      0,
      "TCP OK - 0.000 second response time on 127.0.0.1 port 18801|time=0.000335s;;;0.000000;10.000000",
    ],
    [
      { result: { type: "ok", received: "hello" }, responseMs: 1.197 },
      {},
      0,
      "TCP OK - 0.001 second response time on 127.0.0.1 port 18801 [hello]|time=0.001197s;;;0.000000;10.000000",
    ],
    [
      { result: { type: "mismatch", received: "hello" }, responseMs: 1.565 },
      {},
      1,
      "TCP WARNING - Unexpected response from host/socket: hello|time=0.001565s;;;0.000000;10.000000",
    ],
    [
      { result: { type: "mismatch", received: "hello" }, responseMs: 1.616 },
      { mismatchState: "critical" },
      2,
      "TCP CRITICAL - Unexpected response from host/socket: hello|time=0.001616s;;;0.000000;10.000000",
    ],
    [
      { result: { type: "refused" } },
      {},
      2,
      "connect to address 127.0.0.1 and port 18801: Connection refused",
    ],
    [
      { result: { type: "refused" } },
      { refusedState: "ok" },
      0,
      "connect to address 127.0.0.1 and port 18801: Connection refused",
    ],
    [
      { result: { type: "refused" } },
      { refusedState: "warning" },
      1,
      "connect to address 127.0.0.1 and port 18801: Connection refused",
    ],
    [
      { responseMs: 0.252 },
      { warningMs: 0.001, criticalMs: 5000 },
      1,
      "TCP WARNING - 0.000 second response time on 127.0.0.1 port 18801|time=0.000252s;0.000001;5.000000;0.000000;10.000000",
    ],
    [
      { responseMs: 0.213 },
      { warningMs: 0.001, criticalMs: 0.002 },
      2,
      "TCP CRITICAL - 0.000 second response time on 127.0.0.1 port 18801|time=0.000213s;0.000001;0.000002;0.000000;10.000000",
    ],
    [
      { result: { type: "timeout", timeoutMs: 1000 } },
      {},
      2,
      "CRITICAL - Socket timeout after 1 seconds",
    ],
    [{ result: { type: "no-data" } }, {}, 2, "No data received from host"],
    [{ result: { type: "unknown", message: "bad" } }, {}, 3, "TCP UNKNOWN - bad"],
    [
      {
        label: "SMTP",
        result: { type: "ok", received: "220 mx|ok" },
        responseMs: 12.345,
        timeoutMs: 3000,
        extraPerf: [{ label: "tls", ms: 4.5 }, { label: "step1", ms: 1 }],
      },
      {},
      0,
      "SMTP OK - 0.012 second response time on 127.0.0.1 port 18801 [220 mx\\x7cok]|time=0.012345s;;;0.000000;3.000000 tls=0.004500s;;;0.000000;3.000000 step1=0.001000s;;;0.000000;3.000000",
    ],
    [
      { result: { type: "mismatch", received: "-ERR", where: 'step 2 (--expect "+PONG")' } },
      {},
      1,
      'TCP WARNING - Unexpected response from host/socket: -ERR at step 2 (--expect "+PONG")|time=0.000335s;;;0.000000;10.000000',
    ],
  ];
  for (const [outcome, options, state, line] of table) {
    assert.deepEqual(renderNagios({ ...base, ...outcome }, options), { state, line });
  }
});

Deno.test("renderNagios() applies thresholds to a mismatch mapped to ok", () => {
  const { state } = renderNagios(
    { ...base, result: { type: "mismatch", received: "x" }, responseMs: 50 },
    { mismatchState: "ok", warningMs: 10 },
  );
  assert.equal(state, 1);
});

Deno.test("nagiosState() maps names to plugin exit codes", () => {
  assert.deepEqual([nagiosState("ok"), nagiosState("warning"), nagiosState("critical")], [0, 1, 2]);
});
