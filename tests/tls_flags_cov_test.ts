import assert from "node:assert/strict";
import { UsageError } from "../lib/errors.ts";
import type { ParsedArgs } from "../lib/cli/args.ts";
import { tlsPlan } from "../lib/cli/tls_flags.ts";
import { runCli } from "./peers/cli.ts";
import { makeTlsFixtures, startOpensslServer } from "./peers/tls.ts";

const fx = await makeTlsFixtures();
globalThis.addEventListener("unload", () => Deno.removeSync(fx.dir, { recursive: true }));

const BROKEN = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
const bundle = `${fx.dir}/bundle-with-broken.pem`;
await Deno.writeTextFile(bundle, fx.ca.certPem + BROKEN);
const noEnd = `${fx.dir}/no-end.pem`;
await Deno.writeTextFile(noEnd, "-----BEGIN CERTIFICATE-----\nMIIB\n");

async function usage(values: ParsedArgs["values"]): Promise<string> {
  try {
    await tlsPlan({ values, positionals: [] }, { host: "localhost" });
  } catch (err) {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${err}`);
    return err.message;
  }
  throw new Error("no UsageError");
}

Deno.test("tlsPlan() rejects an empty or spaced --sni and unusable --cacert files", async (t) => {
  const cases: [string, ParsedArgs["values"], RegExp][] = [
    ["an empty --sni", { tls: true, sni: "" }, /^invalid value "" for --sni: must be a host name$/],
    ["a --sni with a space", { tls: true, sni: "a b" }, /^invalid value "a b" for --sni/],
    [
      "a --cacert path under a file",
      { tls: true, cacert: `${fx.ca.cert}/ca.pem` },
      /^cannot read --cacert ".*ca\.pem\/ca\.pem": cannot read it$/,
    ],
    [
      "a --cacert with a block that is not a certificate",
      { tls: true, cacert: bundle },
      /^--cacert ".*bundle-with-broken\.pem": certificate 2 of 2 is not a valid certificate$/,
    ],
    [
      "a --cacert whose block never ends",
      { tls: true, cacert: noEnd },
      /^--cacert ".*no-end\.pem" holds no complete PEM certificate \(no END line\)$/,
    ],
  ];
  for (const [name, values, message] of cases) {
    await t.step(name, async () => assert.match(await usage(values), message));
  }
});

Deno.test("tcpc --cacert with a corrupted certificate exits 2 with a message, not a crash", async () => {
  // Deno 2.9's node:tls throws an uncaught error after the handshake when a CA
  // entry does not parse: the flag check must stop it first.
  await using peer = await startOpensslServer({ cert: fx.good.cert, key: fx.good.key });
  const result = await runCli(["--tls", "--cacert", bundle, "localhost", String(peer.port)]);
  assert.equal(result.code, 2, result.err);
  assert.match(result.err, /certificate 2 of 2 is not a valid certificate/);
  assert.doesNotMatch(result.err, /Uncaught|nom error/);
});
