import assert from "node:assert/strict";
import { stopChild } from "./peers/servers.ts";

Deno.test("stopChild() ends a peer that ignores SIGTERM with SIGKILL after the grace period", async () => {
  // bash ignores TERM and so does the sleep it runs (ignored signals are inherited).
  const child = new Deno.Command("bash", {
    args: ["-c", "trap '' TERM; echo ready; sleep 60"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  assert.match(new TextDecoder().decode((await reader.read()).value), /ready/);
  const status = await stopChild(child, { graceMs: 300 });
  await reader.cancel();
  assert.equal(status.signal, "SIGKILL");
});

Deno.test("stopChild() leaves SIGKILL out for a peer that stops on SIGTERM", async () => {
  const child = new Deno.Command("sleep", {
    args: ["60"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  })
    .spawn();
  const status = await stopChild(child, { graceMs: 30_000 });
  assert.equal(status.signal, "SIGTERM");
});
