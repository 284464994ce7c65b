import assert from "node:assert/strict";
import { RegexMatcher } from "../lib/net/regex_matcher.ts";

/** Text that keeps `^(a+)+$` backtracking for far longer than any test runs. */
const CATASTROPHIC = "a".repeat(40) + "!";

Deno.test("RegexMatcher.match() settles a catastrophic match as timeout by its deadline", async () => {
  const matcher = new RegexMatcher({ source: "^(a+)+$" });
  try {
    const deadline = performance.now() + 500;
    assert.equal(await matcher.match(CATASTROPHIC, { deadline }), "timeout");
    // It settled because of the deadline (not because the match finished).
    assert.ok(performance.now() >= deadline - 5, "not before its deadline");
    // The thread was replaced: the same matcher still answers.
    const later = performance.now() + 30_000;
    assert.equal(await matcher.match("aaaa", { deadline: later }), true);
    assert.equal(await matcher.match("aab", { deadline: later }), false);
  } finally {
    matcher.close();
  }
});

Deno.test("RegexMatcher.matchEnd() times out a queued match without waiting for the running one", async () => {
  const matcher = new RegexMatcher({ source: "^(a+)+$" });
  try {
    const started = performance.now();
    const order: string[] = [];
    const running = matcher.matchEnd(CATASTROPHIC, { deadline: started + 3_000 })
      .then((end) => (order.push("running"), end));
    const queued = matcher.matchEnd("aaa", { deadline: started + 100 })
      .then((end) => (order.push("queued"), end));
    const third = matcher.matchEnd("aa", { deadline: started + 60_000 })
      .then((end) => (order.push("third"), end));
    assert.deepEqual(await Promise.all([running, queued, third]), ["timeout", "timeout", 2]);
    assert.deepEqual(order, ["queued", "running", "third"]);
  } finally {
    matcher.close();
  }
});

Deno.test("RegexMatcher works again after close(), on a new thread", async () => {
  const matcher = new RegexMatcher({ source: "PONG" });
  try {
    const deadline = performance.now() + 30_000;
    assert.equal(await matcher.match("+PONG", { deadline }), true);
    matcher.close();
    matcher.close(); // twice is harmless
    assert.equal(await matcher.matchEnd("x+PONG\r\n", { deadline }), 6);
  } finally {
    matcher.close();
  }
});

Deno.test("RegexMatcher.matchEnd() counts UTF-16 code units, and an empty match ends at 0", async () => {
  const deadline = performance.now() + 30_000;
  const unicode = new RegexMatcher({ source: "\\p{Emoji_Presentation}x", flags: "u" });
  const empty = new RegexMatcher({ source: "" });
  try {
    assert.equal(await unicode.matchEnd("é😀x rest", { deadline }), 4);
    assert.equal(await unicode.matchEnd("no emoji x", { deadline }), -1);
    assert.equal(await empty.matchEnd("abc", { deadline }), 0);
    assert.equal(await empty.match("", { deadline }), true);
  } finally {
    unicode.close();
    empty.close();
  }
});

Deno.test("RegexMatcher starts every match at offset 0, also with the g and y flags", async () => {
  const deadline = performance.now() + 30_000;
  const global = new RegexMatcher({ source: "ab", flags: "g" });
  const sticky = new RegexMatcher({ source: "ab", flags: "y" });
  try {
    // A reused global RegExp would go on from lastIndex 4 and miss.
    assert.deepEqual(
      await Promise.all([
        global.matchEnd("xxab", { deadline }),
        global.matchEnd("ab", { deadline }),
        global.matchEnd("ab", { deadline }),
      ]),
      [4, 2, 2],
    );
    assert.deepEqual(
      await Promise.all([
        sticky.matchEnd("ab", { deadline }),
        sticky.matchEnd("xab", { deadline }),
        sticky.matchEnd("abab", { deadline }),
      ]),
      [2, -1, 2],
    );
  } finally {
    global.close();
    sticky.close();
  }
});

Deno.test("new RegexMatcher() throws a SyntaxError for invalid flags", () => {
  for (const flags of ["x", "gg", "uv", "I"]) {
    assert.throws(() => new RegexMatcher({ source: "a", flags }), SyntaxError, `flags ${flags}`);
  }
  // An invalid expression only under the u flag.
  assert.throws(() => new RegexMatcher({ source: "\\c", flags: "u" }), SyntaxError);
  new RegexMatcher({ source: "\\c" }).close();
});
