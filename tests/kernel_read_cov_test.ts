import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { readKernelParams } from "../lib/kernel/read.ts";
import { outputWithin } from "./peers/cli.ts";

const LINUX = Deno.build.os === "linux";
const READ_TS = new URL("../lib/kernel/read.ts", import.meta.url).href;
const REPO = fileURLToPath(new URL("..", import.meta.url));

/** A temporary `--root` with an `ipv4` folder; removed after `fn`. */
async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "tcpc-kernel-" });
  try {
    await Deno.mkdir(`${root}/ipv4`);
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("readKernelParams() assumes the default for an empty parameter file, and says why", async () => {
  await withRoot(async (root) => {
    await Deno.writeTextFile(`${root}/ipv4/tcp_syn_retries`, "");
    const reading = await readKernelParams({ root, os: "linux", names: ["ipv4/tcp_syn_retries"] });
    assert.deepEqual(reading.params["ipv4/tcp_syn_retries"], {
      value: [6],
      source: "default",
      note: 'assumed Linux default: malformed file: expected 1 integer, got ""',
    });
  });
});

Deno.test({
  name: "readKernelParams() gives up on a FIFO without data when its signal fires",
  ignore: !LINUX,
  // The abandoned read ends only after the test's own write below, in the
  // runtime's file thread, at a moment no test can observe.
  sanitizeOps: false,
  async fn() {
    await withRoot(async (root) => {
      const fifo = `${root}/ipv4/tcp_syn_retries`;
      const made = await new Deno.Command("mkfifo", { args: [fifo], stdin: "null" }).output();
      assert.equal(made.code, 0);
      // Held open for writing (O_RDWR does not block on a FIFO), so the reader's
      // open succeeds and its read waits for bytes that never come.
      const writer = await Deno.open(fifo, { read: true, write: true });
      try {
        await assert.rejects(
          readKernelParams({
            root,
            os: "linux",
            names: ["ipv4/tcp_syn_retries"],
            signal: AbortSignal.timeout(300),
          }),
          { name: "TimeoutError" },
        );
      } finally {
        // Ends the blocked read in the runtime's file thread.
        await writer.write(new TextEncoder().encode("3\n"));
        writer.close();
      }
    });
  },
});

Deno.test({
  name: "readKernelParams() says why when the sysctl command cannot be run",
  ignore: !LINUX,
  async fn() {
    await withRoot(async (dir) => {
      // A directory is found but cannot be executed: PermissionDenied, not NotFound.
      const reading = await readKernelParams({
        names: ["ipv4/tcp_syn_retries"],
        sysctlCommand: dir,
      });
      const why = `cannot run "${dir}": PermissionDenied: `;
      assert.equal(reading.params["ipv4/tcp_syn_retries"]?.source, "default");
      assert.ok(
        reading.params["ipv4/tcp_syn_retries"]?.note?.startsWith(`assumed Linux default: ${why}`),
        reading.params["ipv4/tcp_syn_retries"]?.note,
      );
      assert.equal(reading.notes.length, 1);
      assert.ok(reading.notes[0]?.startsWith(`sysctl failed: ${why}`), reading.notes[0]);
      assert.match(reading.notes[0] ?? "", /; run with --allow-all for real values$/);
    });
  },
});

Deno.test({
  name: "readKernelParams() rejects with the signal's reason when it fires while sysctl runs",
  ignore: !LINUX,
  async fn() {
    await withRoot(async (dir) => {
      const fake = `${dir}/sysctl`;
      const started = `${dir}/started`;
      await Deno.writeTextFile(
        fake,
        `#!/bin/sh\n: > "${started}"\nexec sleep 60\n`,
      );
      await Deno.chmod(fake, 0o755);
      const controller = new AbortController();
      const reason = new Error("stopped by the caller");
      const reading = readKernelParams({ sysctlCommand: fake, signal: controller.signal });
      // Abort once the fake sysctl runs (bounded wait: 30 s).
      const until = Date.now() + 30_000;
      while (Date.now() < until) {
        try {
          await Deno.stat(started);
          break;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      controller.abort(reason);
      await assert.rejects(reading, reason);
    });
  },
});

Deno.test({
  name:
    "readKernelParams() under a narrow run permission that cannot query the command assumes defaults",
  ignore: !LINUX,
  async fn() {
    // --allow-run=sysctl (the default permission set) refuses /proc, and
    // Deno.permissions.query() throws for an empty command.
    const script = `
      import { readKernelParams } from ${JSON.stringify(READ_TS)};
      const reading = await readKernelParams({
        names: ["ipv4/tcp_syn_retries"],
        sysctlCommand: "",
        signal: AbortSignal.timeout(60_000),
      });
      console.log(JSON.stringify(reading));
    `;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--allow-read", "--allow-run=sysctl", "-"],
      cwd: REPO,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(script));
    await writer.close();
    const { code, stdout, stderr } = await outputWithin(child, 60_000);
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const reading = JSON.parse(new TextDecoder().decode(stdout));
    assert.deepEqual(reading.params["ipv4/tcp_syn_retries"], {
      value: [6],
      source: "default",
      note: "assumed Linux default: the read was refused and running sysctl is not allowed",
    });
    assert.equal(reading.notes.length, 1);
    assert.match(
      reading.notes[0],
      /^1 value\(s\) assumed: Deno refused the read \(\/proc needs --allow-all\)/,
    );
  },
});
