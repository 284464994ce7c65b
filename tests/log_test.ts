import assert from "node:assert/strict";
import { log, setupLog, teardownLog } from "../lib/log.ts";

/** Collects what the logger writes, one entry per line. */
function sink() {
  const lines: string[] = [];
  return { lines, write: (line: string) => void lines.push(line) };
}

const P = `[tcpc (${Deno.pid})] `;

/** Logs one line at each level through a fresh logger. */
function everyLevel(part: string) {
  const l = log(part);
  l.debug("d");
  l.info("i");
  l.warn("w");
  l.error("e");
}

Deno.test("setupLog() at verbosity 0 prints only warnings and errors, with the PID prefix", async () => {
  const out = sink();
  try {
    await setupLog({ write: out.write });
    everyLevel("dial");
    assert.deepEqual(out.lines, [`${P}w`, `${P}e`]);
  } finally {
    await teardownLog();
  }
});

Deno.test("setupLog() at verbosity 1 adds info lines but not debug", async () => {
  const out = sink();
  try {
    await setupLog({ verbosity: 1, write: out.write });
    everyLevel("dial");
    assert.deepEqual(out.lines, [`${P}i`, `${P}w`, `${P}e`]);
  } finally {
    await teardownLog();
  }
});

Deno.test("setupLog() at verbosity 2 prints debug lines too, clamping higher levels", async () => {
  for (const verbosity of [2, 7]) {
    const out = sink();
    try {
      await setupLog({ verbosity, write: out.write });
      everyLevel("tls");
      assert.deepEqual(out.lines, [`${P}d`, `${P}i`, `${P}w`, `${P}e`], `verbosity ${verbosity}`);
    } finally {
      await teardownLog();
    }
  }
});

Deno.test("setupLog() treats a negative verbosity as 0", async () => {
  const out = sink();
  try {
    await setupLog({ verbosity: -3, write: out.write });
    everyLevel("dial");
    assert.deepEqual(out.lines, [`${P}w`, `${P}e`]);
  } finally {
    await teardownLog();
  }
});

Deno.test("log() made before setupLog() follows each later set-up", async () => {
  const early = log("probe");
  const before = sink();
  early.warn("lost"); // nothing set up yet: dropped, not thrown
  const first = sink();
  const second = sink();
  const third = sink();
  try {
    await setupLog({ verbosity: 2, write: first.write });
    early.debug("one");
    // Back to the built-in writer: LogTape is reset and debug goes quiet.
    await setupLog({ verbosity: 0, write: second.write });
    early.debug("hidden");
    early.error("two");
    // And to LogTape again, with a new writer.
    await setupLog({ verbosity: 1, write: third.write });
    early.debug("hidden");
    early.info("three");
    assert.deepEqual(before.lines, []);
    assert.deepEqual(first.lines, [`${P}one`]);
    assert.deepEqual(second.lines, [`${P}two`]);
    assert.deepEqual(third.lines, [`${P}three`]);
  } finally {
    await teardownLog();
  }
  early.error("after teardown");
  assert.deepEqual(third.lines, [`${P}three`], "nothing is written after teardownLog()");
});

// LogTape reads `{x}` in a message as a placeholder: peer bytes with braces
// (a banner, a host name) must still print verbatim at -v/-vv.
Deno.test("log() writes a message with braces verbatim at -v", async () => {
  const out = sink();
  try {
    await setupLog({ verbosity: 1, write: out.write });
    log("dial").info('connect "127.0.0.1:1": refused {x} 100%');
    assert.deepEqual(out.lines, [`${P}connect "127.0.0.1:1": refused {x} 100%`]);
  } finally {
    await teardownLog();
  }
});
