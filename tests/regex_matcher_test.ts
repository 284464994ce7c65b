import assert from "node:assert/strict";
import { type MatcherScope, RegexMatcher, serveMatcher } from "../lib/net/regex_matcher.ts";

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

Deno.test("RegexMatcher.close() settles queued matches, not only the running one, as timeout", async () => {
  const matcher = new RegexMatcher({ source: "^(a+)+$" });
  const deadline = performance.now() + 60_000;
  const running = matcher.match("a".repeat(40) + "!", { deadline });
  const queued = [matcher.match("aaa", { deadline }), matcher.matchEnd("aa", { deadline })];
  matcher.close();
  assert.deepEqual(await Promise.all([running, ...queued]), ["timeout", "timeout", "timeout"]);
});

Deno.test("RegexMatcher.match() settles a match that overflows the regexp stack as timeout, then goes on", async () => {
  // Ten million characters overflow V8's backtracking stack: exec throws a
  // RangeError in the worker at once (well before the deadline), and the
  // worker answers instead of dying with a stack trace.
  const matcher = new RegexMatcher({ source: "(?:a|b)*c" });
  try {
    const started = performance.now();
    const deadline = started + 120_000;
    assert.equal(await matcher.match("ab".repeat(5_000_000), { deadline }), "timeout");
    assert.ok(
      performance.now() - started < 100_000,
      "settled by the thread's error, not the deadline",
    );
    assert.equal(await matcher.match("abc", { deadline }), true);
  } finally {
    matcher.close();
  }
});

Deno.test("serveMatcher() answers each request with the end of the first match, from the start", () => {
  const sent: unknown[] = [];
  const scope: MatcherScope = { onmessage: null, postMessage: (m) => sent.push(m) };
  serveMatcher(scope);
  const ask = (id: number, text: string) =>
    scope.onmessage?.(
      new MessageEvent("message", { data: { id, source: "o+", flags: "g", text } }),
    );
  ask(1, "foo bar");
  ask(2, "fo"); // lastIndex of the "g" expression is reset, not left at 3
  ask(3, "xyz");
  assert.deepEqual(sent, [{ id: 1, end: 3 }, { id: 2, end: 2 }, { id: 3, end: -1 }]);
});

Deno.test("serveMatcher() answers timeout when the match overflows the backtracking stack", () => {
  const sent: unknown[] = [];
  const scope: MatcherScope = { onmessage: null, postMessage: (m) => sent.push(m) };
  serveMatcher(scope);
  const data = { id: 7, source: "(?:a|b)*c", flags: "", text: "ab".repeat(5_000_000) };
  scope.onmessage?.(new MessageEvent("message", { data }));
  assert.deepEqual(sent, [{ id: 7, end: "timeout" }]);
});

Deno.test("RegexMatcher.match() times out a queued match at its own deadline while another runs", async () => {
  const matcher = new RegexMatcher({ source: "^(a+)+$" });
  try {
    const started = performance.now();
    // Minutes of backtracking, stopped only at its 60 s deadline or by close().
    const slow = matcher.match("a".repeat(40) + "!", { deadline: started + 60_000 });
    const queued = matcher.match("aaa", { deadline: started + 200 });
    assert.equal(await queued, "timeout");
    assert.ok(performance.now() - started < 50_000, "settled at its own deadline");
    matcher.close();
    assert.equal(await slow, "timeout");
  } finally {
    matcher.close();
  }
});
