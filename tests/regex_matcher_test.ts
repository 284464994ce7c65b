import assert from "node:assert/strict";
import { RegexMatcher } from "../lib/net/regex_matcher.ts";

Deno.test("RegexMatcher.match() answers like RegExp.test, in order", async () => {
  const matcher = new RegexMatcher({ source: "^\\+PONG", flags: "m" });
  try {
    const deadline = performance.now() + 30_000;
    const answers = await Promise.all([
      matcher.match("+PONG\r\n", { deadline }),
      matcher.match("-ERR\r\n", { deadline }),
      matcher.match("x\n+PONG", { deadline }),
    ]);
    assert.deepEqual(answers, [true, false, true]);
  } finally {
    matcher.close();
  }
});

Deno.test("RegexMatcher.matchEnd() gives the offset past the first match, -1 for none", async () => {
  const matcher = new RegexMatcher({ source: "^250 [^\\n]*\\n", flags: "m" });
  try {
    const deadline = performance.now() + 30_000;
    const ends = await Promise.all([
      matcher.matchEnd("250 ok\n354 go\n", { deadline }),
      matcher.matchEnd("220 hi\n250 ok\nrest", { deadline }),
      matcher.matchEnd("503 no\n", { deadline }),
    ]);
    assert.deepEqual(ends, [7, 14, -1]);
  } finally {
    matcher.close();
  }
});

Deno.test("RegexMatcher.match() stops a backtracking match at its deadline and goes on", async () => {
  const matcher = new RegexMatcher({ source: "^(a+)+$" });
  try {
    const started = performance.now();
    // Minutes of backtracking if nothing stopped it.
    const slow = matcher.match("a".repeat(40) + "!", { deadline: started + 300 });
    // Queued behind it: its own deadline is later, so it runs on a new thread.
    const next = matcher.match("aaa", { deadline: started + 30_000 });
    assert.equal(await slow, "timeout");
    assert.ok(performance.now() - started < 20_000);
    assert.equal(await next, true);
  } finally {
    matcher.close();
  }
});

Deno.test("RegexMatcher.close() settles pending matches as timeout", async () => {
  const matcher = new RegexMatcher({ source: "^(a+)+$" });
  const pending = matcher.match("a".repeat(40) + "!", { deadline: performance.now() + 60_000 });
  matcher.close();
  assert.equal(await pending, "timeout");
});

Deno.test("new RegexMatcher() throws a bad expression's SyntaxError", () => {
  assert.throws(() => new RegexMatcher({ source: "(" }), SyntaxError);
});
