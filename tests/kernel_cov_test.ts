/**
 * `tcpc kernel` over trees made here: the tcp_tw_reuse modes, a parameter
 * path that cannot be read, a tree with no files at all, and a reading of a
 * few names only.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { runKernel } from "../lib/cli/kernel.ts";
import { readKernelParams } from "../lib/kernel/read.ts";
import { kernelReportJson, renderKernelTable } from "../lib/kernel/report.ts";
import { collectingContext } from "./peers/context.ts";

const TUNED = fileURLToPath(new URL("./fixtures/proc/tuned", import.meta.url));

/** A copy of the tuned tree with some files replaced (`null`: a directory instead of the file). */
async function withTree(
  changes: Record<string, string | null>,
  fn: (root: string) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "tcpc-kernel-" });
  try {
    for (const dir of ["core", "ipv4"]) {
      await Deno.mkdir(`${root}/${dir}`);
      for await (const entry of Deno.readDir(`${TUNED}/${dir}`)) {
        await Deno.copyFile(`${TUNED}/${dir}/${entry.name}`, `${root}/${dir}/${entry.name}`);
      }
    }
    for (const [name, text] of Object.entries(changes)) {
      await Deno.remove(`${root}/${name}`);
      if (text === null) await Deno.mkdir(`${root}/${name}`);
      else await Deno.writeTextFile(`${root}/${name}`, text);
    }
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function table(root: string): Promise<string[]> {
  const { ctx, out } = collectingContext();
  assert.equal(await runKernel(["--root", root], ctx), 0);
  return out;
}

function row(lines: string[], name: string): string {
  const found = lines.find((line) => line.startsWith(`${name} `));
  assert.ok(found, `no row ${name} in\n${lines.join("\n")}`);
  return found;
}

Deno.test("tcpc kernel explains every tcp_tw_reuse mode, and an unknown one", async () => {
  for (
    const [mode, words] of [
      ["2", "TIME-WAIT ports reused on loopback only"],
      ["7", "unknown mode 7"],
    ]
  ) {
    await withTree({ "ipv4/tcp_tw_reuse": `${mode}\n` }, async (root) => {
      assert.match(row(await table(root), "ipv4/tcp_tw_reuse"), new RegExp(`${words}$`));
    });
  }
});

Deno.test("tcpc kernel assumes the default for a parameter path it cannot read, and says why", async () => {
  await withTree({ "ipv4/tcp_syn_retries": null }, async (root) => {
    const lines = await table(root);
    assert.match(row(lines, "ipv4/tcp_syn_retries"), / 6 +default /);
    assert.ok(
      lines.some((l) =>
        /^ {2}ipv4\/tcp_syn_retries: assumed Linux default: cannot read the file: \w+: /.test(l)
      ),
      lines.join("\n"),
    );
  });
});

Deno.test("tcpc kernel over a tree without files notes once that all values are assumed", async () => {
  const root = await Deno.makeTempDir({ prefix: "tcpc-kernel-" });
  try {
    const lines = await table(root);
    assert.equal(lines.at(-1), `  all values: assumed Linux default: no such file under "${root}"`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the kernel table and JSON of a reading of a few names show only those", async () => {
  const reading = await readKernelParams({
    root: TUNED,
    os: "linux",
    names: ["ipv4/tcp_syn_retries", "core/somaxconn"],
  });
  const lines = renderKernelTable(reading);
  assert.equal(lines.length, 3, lines.join("\n"));
  assert.deepEqual(Object.keys(kernelReportJson(reading).params).sort(), [
    "core/somaxconn",
    "ipv4/tcp_syn_retries",
  ]);
});

Deno.test("tcpc kernel --root drops trailing slashes but keeps / itself", async () => {
  const tuned = await table(`${TUNED}///`);
  assert.match(row(tuned, "ipv4/tcp_syn_retries"), / 3 +proc /);
  const slash = await table("/");
  assert.equal(slash.at(-1), '  all values: assumed Linux default: no such file under "/"');
});
