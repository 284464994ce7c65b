import assert from "node:assert/strict";
import { runCliIsolated, skipWithoutNetns } from "./peers/netns.ts";

// Inside a private namespace whose resolver reads /etc/hosts only: `nosuchhost`
// fails to resolve without any query leaving the machine, and 127.0.0.1:9 is
// closed (nothing listens in a fresh namespace).
const TARGETS = ["nosuchhost:80", "127.0.0.1:9", "nosuchhost:81"];
const NO_SUCH_HOST = `lookup "nosuchhost": name resolution failed (no such host)`;

Deno.test("tcpc probe reports a target that does not resolve as dns-error, exit 1", async (t) => {
  if (await skipWithoutNetns(t)) return;

  await t.step("--json: one record per target, in order", async () => {
    const r = await runCliIsolated(["probe", ...TARGETS, "--json"]);
    assert.equal(r.code, 1, r.err);
    const records = r.out.trim().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(
      records.map((
        rec,
      ) => [rec.target, rec.state, rec.address, rec.error?.kind, rec.error?.message]),
      [
        ["nosuchhost:80", "dns-error", null, "dns", NO_SUCH_HOST],
        [
          "127.0.0.1:9",
          "closed",
          "127.0.0.1:9",
          "refused",
          `connect "127.0.0.1:9": connection refused`,
        ],
        ["nosuchhost:81", "dns-error", null, "dns", NO_SUCH_HOST],
      ],
    );
    const [first, literal] = records;
    assert.equal(first.timings.connectMs, null);
    assert.equal(typeof first.timings.resolveMs, "number");
    assert.equal(first.bytesSent, 0);
    assert.equal(literal.timings.resolveMs, 0, "an IP literal is not resolved");
  });

  await t.step("text: the table and the tally name dns-error", async () => {
    const r = await runCliIsolated(["probe", ...TARGETS]);
    assert.equal(r.code, 1, r.err);
    const lines = r.out.trimEnd().split("\n");
    assert.match(lines[1]!, /^nosuchhost:80 +dns-error +- +lookup "nosuchhost": name resolution/);
    assert.match(lines[2]!, /^127\.0\.0\.1:9 +closed /);
    assert.match(lines.at(-1)!, /^3 targets in .*: 1 closed, 2 dns-error$/);
  });

  await t.step("prometheus: failure phase resolve, no ip_protocol", async () => {
    const r = await runCliIsolated(["probe", ...TARGETS, "--format", "prometheus"]);
    assert.equal(r.code, 1, r.err);
    assert.match(
      r.out,
      /^probe_failure_info\{target="nosuchhost:80",phase="resolve",reason="dns",step=""\} 1$/m,
    );
    assert.match(r.out, /^probe_success\{target="nosuchhost:81"\} 0$/m);
    assert.doesNotMatch(r.out, /^probe_ip_protocol\{target="nosuchhost/m);
    assert.match(r.out, /^probe_ip_protocol\{target="127\.0\.0\.1:9"\} 4$/m);
  });
});
