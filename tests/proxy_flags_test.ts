import assert from "node:assert/strict";
import { UsageError } from "../lib/errors.ts";
import { proxyPlan, ROUTE_FLAGS } from "../lib/cli/proxy_flags.ts";
import { helpFlagLines, parseConfig } from "../lib/cli/flags.ts";
import { parseCommandLine } from "../lib/cli/args.ts";

const SECRET = "hunter2-Z";

function plan(argv: string[]) {
  return proxyPlan(parseCommandLine(argv, { options: parseConfig(ROUTE_FLAGS) }));
}

Deno.test("proxyPlan() is null without proxy flags", () => {
  assert.equal(plan([]), null);
});

Deno.test("proxyPlan() parses proxy URLs, with default ports 1080 and 8080", () => {
  const table: [string, Record<string, unknown>][] = [
    ["socks5://127.0.0.1", {
      type: "socks5",
      host: "127.0.0.1",
      port: 1080,
      address: "127.0.0.1:1080",
    }],
    ["SOCKS5H://proxy.example:1081", { type: "socks5h", host: "proxy.example", port: 1081 }],
    ["socks4://[::1]:9050", { type: "socks4", host: "::1", port: 9050, address: "[::1]:9050" }],
    ["socks4a://bob@gw", { type: "socks4a", host: "gw", port: 1080, username: "bob" }],
    ["http://proxy", { type: "http", host: "proxy", port: 8080, address: "proxy:8080" }],
    ["http://proxy:80/", { type: "http", port: 80 }],
    ["http://[::1]", { type: "http", host: "::1", port: 8080, address: "[::1]:8080" }],
    ["http://u%20x@proxy:3128", { username: "u x", port: 3128 }],
  ];
  for (const [url, want] of table) {
    const got = plan(["--proxy", url])?.proxy;
    assert.ok(got, url);
    for (const [key, value] of Object.entries(want)) {
      assert.equal((got as unknown as Record<string, unknown>)[key], value, `${url} ${key}`);
    }
    assert.equal(plan(["--proxy", url])?.proxyProtocol, null);
  }
});

Deno.test("proxyPlan() takes credentials from the URL (percent-decoded) or --proxy-auth", () => {
  const fromUrl = plan(["--proxy", `socks5://alice:${SECRET}%40%3A@127.0.0.1:1080`])?.proxy;
  assert.equal(fromUrl?.username, "alice");
  assert.equal(fromUrl?.password, `${SECRET}@:`);
  assert.equal(fromUrl?.display, "socks5://alice:***@127.0.0.1:1080");
  const fromFlag = plan(["--proxy", "http://127.0.0.1", "--proxy-auth", `bob:${SECRET}:x`])?.proxy;
  assert.equal(fromFlag?.username, "bob");
  assert.equal(fromFlag?.password, `${SECRET}:x`);
  // A raw "@" or "/" in the password: the last "@" ends the user info.
  const raw = plan(["--proxy", `socks5h://carol:a/b@c${SECRET}@gw:1`])?.proxy;
  assert.equal(raw?.password, `a/b@c${SECRET}`);
  assert.equal(raw?.host, "gw");
});

Deno.test("proxyPlan() keeps the password out of JSON and inspection", () => {
  const spec = plan(["--proxy", `socks5://alice:${SECRET}@127.0.0.1`])?.proxy;
  assert.equal(spec?.password, SECRET);
  assert.ok(!JSON.stringify(spec).includes(SECRET));
  assert.ok(!Deno.inspect(spec, { depth: 5 }).includes(SECRET));
  assert.ok(!JSON.stringify({ ...spec }).includes(SECRET));
});

Deno.test("proxyPlan() reads --proxy-protocol v1 and v2", () => {
  assert.deepEqual(plan(["--proxy-protocol", "v1"]), { proxy: null, proxyProtocol: 1 });
  assert.equal(plan(["--proxy-protocol", "v2", "--proxy", "http://p"])?.proxyProtocol, 2);
});

Deno.test("proxyPlan() rejects bad input naming the value, never the password", () => {
  const table: [string[], string][] = [
    [["--proxy", "127.0.0.1:1080"], `"127.0.0.1:1080": use SCHEME://`],
    [["--proxy", "socks6://h"], `unknown scheme "socks6"`],
    [["--proxy", `https://u:${SECRET}@h`], `"https://u:***@h": unknown scheme "https"`],
    [["--proxy", "http://h/path"], "no path, query or fragment"],
    [["--proxy", "http://h?x=1"], "no path, query or fragment"],
    [["--proxy", "http://h#f"], "no path, query or fragment"],
    [["--proxy", `http://u:${SECRET}@h/p`], `"http://u:***@h/p": a proxy URL has no path`],
    [["--proxy", "socks5://"], "no host"],
    [["--proxy", "socks5://:1080"], "no host"],
    [["--proxy", "socks5://h:0"], `invalid port "0"`],
    [["--proxy", "socks5://h:65536"], `invalid port "65536"`],
    [["--proxy", "socks5://h:x"], `invalid port "x"`],
    [["--proxy", "socks5://bad host"], `invalid host "bad host"`],
    [["--proxy", "socks5://::1:1080"], "put an IPv6 host in brackets"],
    [["--proxy", "socks5://[::1"], "closing"],
    [["--proxy", "socks5://[::1]x"], "after the host"],
    [["--proxy", `socks5://u:${SECRET}%zz@h`], "bad percent escape"],
    [["--proxy", `socks4://u:${SECRET}@h`], "socks4 carries only a user id"],
    [["--proxy", "socks4a://h", "--proxy-auth", `u:${SECRET}`], "socks4a carries only a user id"],
    [["--proxy", "socks5://alice@h"], "needs both a user name and a password"],
    [["--proxy", `socks5://:${SECRET}@h`], "needs both a user name and a password"],
    [["--proxy", `socks5://u:${"p".repeat(256)}@h`], "at most 255 bytes"],
    [["--proxy", `http://u%3Ax:${SECRET}@h`], `cannot contain ":"`],
    [["--proxy", `socks5://u:${SECRET}@h`, "--proxy-auth", `v:${SECRET}`], "both in the URL"],
    [["--proxy-auth", `u:${SECRET}`], "--proxy-auth needs --proxy"],
    [["--proxy-protocol", "v3"], `invalid --proxy-protocol "v3"`],
    [["--proxy-protocol", "1"], `invalid --proxy-protocol "1"`],
  ];
  for (const [argv, part] of table) {
    assert.throws(() => plan(argv), (err: unknown) => {
      assert.ok(err instanceof UsageError, `${argv.join(" ")}: ${err}`);
      assert.ok(err.message.includes(part), `${argv.join(" ")}: ${err.message}`);
      assert.ok(!err.message.includes(SECRET), err.message);
      assert.ok(!err.message.includes("\n"), err.message);
      return true;
    });
  }
});

Deno.test("ROUTE_FLAGS help names every flag and the default ports", () => {
  const help = helpFlagLines(ROUTE_FLAGS).join("\n");
  for (const flag of ROUTE_FLAGS) assert.ok(help.includes(`--${flag.name}`), flag.name);
  assert.match(help, /1080/);
  assert.match(help, /8080/);
});
