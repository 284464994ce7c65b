import assert from "node:assert/strict";
import { stopChild } from "./peers/servers.ts";
import { killAfter } from "./peers/cli.ts";

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

Deno.test("killAfter() ends a child still running after its time, and its timer ends with the child", async () => {
  const hung = new Deno.Command("sleep", { args: ["60"], stdout: "null", stderr: "null" }).spawn();
  killAfter(hung, 300);
  assert.equal((await hung.status).signal, "SIGKILL");
  // Exits at once: the 60 s timer must not outlive it (the op sanitizer would fail the test).
  const quick = new Deno.Command("true", { stdout: "null", stderr: "null" }).spawn();
  killAfter(quick, 60_000);
  assert.equal((await quick.status).code, 0);
});
