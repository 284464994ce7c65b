/**
 * The permission sandbox: under `--allow-net=127.0.0.1:PORT`, every
 * subcommand that reaches anywhere else exits 5 with one line naming the flag
 * it needs (no prompt, no stack trace); and deno.json's permission sets that
 * the CLI runs and compiles with grant no `all`, `env`, `write` or `ffi`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { cleanStderr, outputWithin, REPO } from "./peers/cli.ts";
import { freePort } from "./peers/servers.ts";

Deno.test("every subcommand denied by --allow-net exits 5 naming the flag", async (t) => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const allowed = (listener.addr as Deno.NetAddr).port;
  const elsewhere = String(freePort());
  const cases: [string, string[]][] = [
    ["connect", ["127.0.0.1", elsewhere, "-w", "2s", "-d", "x"]],
    ["connect (by name)", ["localhost", elsewhere, "-w", "2s", "-d", "x"]],
    ["connect (-z)", ["connect", "127.0.0.1", elsewhere, "-z", "-w", "2s"]],
    ["serve", ["serve", "127.0.0.1", elsewhere]],
    ["demo", ["demo"]],
    ["echo", ["echo", "127.0.0.1", elsewhere, "-t", "2s"]],
    ["ping", ["ping", "127.0.0.1", elsewhere, "-n", "1", "-w", "2s"]],
    ["probe", ["probe", `127.0.0.1:${elsewhere}`, "-w", "2s"]],
  ];
  try {
    for (const [name, args] of cases) {
      await t.step(name, async () => {
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            `--allow-net=127.0.0.1:${allowed}`,
            "--allow-read",
            "--allow-run=sysctl",
            "--no-prompt",
            "main.ts",
            ...args,
          ],
          cwd: REPO,
          env: { RUST_BACKTRACE: "1", NO_COLOR: "1" },
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const { code, stdout, stderr } = await outputWithin(child, 60_000);
        const err = cleanStderr(new TextDecoder().decode(stderr));
        const out = new TextDecoder().decode(stdout);
        // Lines on stderr: exactly one, from tcpc (probe and echo may also
        // print their per-target results on stdout).
        const lines = err.split("\n").filter((line) => line !== "");
        assert.equal(code, 5, `exit ${code}: ${err}${out}`);
        assert.doesNotMatch(err, /Stack backtrace|Uncaught|\s+at .+:\d+:\d+/);
        assert.equal(lines.length, 1, err);
        assert.match(lines[0] ?? "", /^tcpc: .*--allow-net/);
      });
    }
  } finally {
    listener.close();
  }
});

/** Permission names that the CLI must never hold. */
const FORBIDDEN = ["all", "env", "write", "ffi"];

Deno.test("deno.json's CLI permission sets grant no all, env, write or ffi", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${REPO}/deno.json`));
  const sets: Record<string, Record<string, unknown>> = config.permissions ?? {};
  assert.ok(sets.default, "a default permission set exists");
  // Sets the CLI runs or compiles with: `-P` (default) and any `-P=name` or
  // `--permission-set=name` in a task that runs or compiles main.ts.
  const used = new Set(["default"]);
  for (const [task, command] of Object.entries(config.tasks ?? {})) {
    const text = typeof command === "string" ? command : JSON.stringify(command);
    // Only commands that run or compile the CLI; tests and benchmarks drive other tools.
    const cli = text.split("&&").filter((part) =>
      /\bdeno (run|compile)\b/.test(part) && /\bmain\.ts\b/.test(part)
    );
    for (const match of cli.join(" ").matchAll(/(?:-P|--permission-set)=([\w-]+)/g)) {
      assert.ok(sets[match[1] ?? ""], `task ${task} uses an unknown set ${match[1]}`);
      used.add(match[1] ?? "");
    }
  }
  for (const name of used) {
    const set = sets[name] ?? {};
    for (const key of FORBIDDEN) {
      const value = set[key];
      assert.ok(
        value === undefined || value === false || (Array.isArray(value) && value.length === 0),
        `permission set "${name}" grants ${key}: ${JSON.stringify(value)}`,
      );
    }
  }
  // The test set may be broader, but it must not be what the CLI runs with.
  assert.notEqual(config.test?.permissions, "default");
});
