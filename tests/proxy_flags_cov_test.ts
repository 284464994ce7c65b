import assert from "node:assert/strict";
import { UsageError } from "../lib/errors.ts";
import { proxyPlan, ROUTE_FLAGS } from "../lib/cli/proxy_flags.ts";
import { parseConfig } from "../lib/cli/flags.ts";
import { parseCommandLine } from "../lib/cli/args.ts";

function plan(argv: string[]) {
  return proxyPlan(parseCommandLine(argv, { options: parseConfig(ROUTE_FLAGS) }));
}

Deno.test("proxyPlan() takes a --proxy-auth without a colon as a user id only", () => {
  const proxy = plan(["--proxy", "socks4://127.0.0.1", "--proxy-auth", "bob"])?.proxy;
  assert.equal(proxy?.username, "bob");
  assert.equal(proxy?.password, undefined);
});

Deno.test("proxyPlan() refuses a NUL in a SOCKS4 user id and a colon in an HTTP user name", () => {
  const cases: [string[], RegExp][] = [
    [["--proxy", "socks4://127.0.0.1", "--proxy-auth", "a\0b"], /the user id contains a NUL byte/],
    [["--proxy", "http://a%3Ab:pw@127.0.0.1"], /an HTTP user name cannot contain ":"/],
    [["--proxy", "socks5://127.0.0.1:99999"], /invalid port "99999"/],
    [["--proxy", "socks5://bad_host!"], /invalid host/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => plan(argv), (err: unknown) => {
      assert.ok(err instanceof UsageError, String(err));
      assert.match(err.message, message);
      return true;
    });
  }
});
