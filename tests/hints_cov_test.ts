import assert from "node:assert/strict";
import { positionalHint, unknownFlagMessage } from "../lib/cli/hints.ts";

Deno.test("unknownFlagMessage() suggests a flag only to a command that has it", () => {
  assert.equal(
    unknownFlagMessage("--wait=5"),
    "unknown option '--wait=5' (ncat: connect timeout): this command has no connect timeout",
  );
  assert.equal(
    unknownFlagMessage("--wait", { accepts: ["connect-timeout"] }),
    "unknown option '--wait' (ncat: connect timeout): use -w/--connect-timeout",
  );
  assert.equal(unknownFlagMessage("--frobnicate"), "unknown option '--frobnicate'");
});

Deno.test("positionalHint() writes the fix as tcpc unless told the invocation", () => {
  assert.equal(
    positionalHint(["127.0.0.1:80"]),
    '"127.0.0.1:80" is HOST:PORT in one argument: write tcpc 127.0.0.1 80',
  );
  assert.equal(positionalHint([]), undefined);
});
