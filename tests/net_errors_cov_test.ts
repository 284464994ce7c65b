import assert from "node:assert/strict";
import { NetError } from "../lib/errors.ts";
import { toNetError } from "../lib/net/net_errors.ts";

/** toNetError() as a NetError (it always is one for these inputs). */
function classify(err: unknown, op: string, address?: string): NetError {
  const result = toNetError(err, address === undefined ? { op } : { op, address });
  assert.ok(result instanceof NetError, String(result));
  return result;
}

Deno.test("toNetError() tells the sandbox's denial from the operating system's", () => {
  const sandbox = classify(
    new Deno.errors.NotCapable("Requires net access"),
    "lookup",
    "example.test",
  );
  assert.equal(sandbox.kind, "denied");
  assert.equal(
    sandbox.message,
    'lookup "example.test": denied by the permission sandbox: run with --allow-net (a name needs the name itself) or -P',
  );
  const bare = classify(new Deno.errors.PermissionDenied("denied"), "connect", "127.0.0.1:9");
  assert.equal(bare.kind, "denied");
  assert.equal(
    bare.message,
    'connect "127.0.0.1:9": denied by the permission sandbox: run with --allow-net or -P',
  );
  // With an errno, a PermissionDenied is the OS: a firewall rule or a route.
  for (const code of ["EACCES", "EPERM"]) {
    const os = classify(
      Object.assign(new Deno.errors.PermissionDenied("Operation not permitted"), { code }),
      "connect",
      "127.0.0.1:9",
    );
    assert.equal(os.kind, "unreachable", code);
    assert.equal(
      os.message,
      `connect "127.0.0.1:9": not permitted (${code}): a firewall rule or route prohibits it`,
    );
  }
});

Deno.test("toNetError() words a thrown value that is not an Error", () => {
  const io = classify("something odd", "read");
  assert.equal(io.kind, "io");
  assert.equal(io.message, "read: something odd", "no address: the op alone");
  const lookup = classify({ code: "ENOTFOUND" }, "connect", "nowhere.test");
  assert.equal(lookup.kind, "dns");
  assert.equal(lookup.message, 'connect "nowhere.test": name resolution failed (no such host)');
  const again = classify({ code: "EAI_AGAIN" }, "lookup", "nowhere.test");
  assert.equal(again.message, 'lookup "nowhere.test": the resolver did not answer (EAI_AGAIN)');
});
