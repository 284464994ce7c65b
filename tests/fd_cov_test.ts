import assert from "node:assert/strict";
import { countFreeFds } from "../lib/net/fd_budget.ts";
import { readFdLimit } from "../lib/net/fd_limit.ts";

const LIMITS = [
  "Limit                     Soft Limit           Hard Limit           Units     ",
  "Max cpu time              unlimited            unlimited            seconds   ",
  "Max open files            4321                 524288               files     ",
  "",
].join("\n");

Deno.test("countFreeFds() counts up to max, and is unknown when the file cannot be opened", async () => {
  assert.equal(await countFreeFds({ max: 5 }), 5);
  assert.equal(await countFreeFds({ max: 5, path: "/nonexistent/tcpc-fd-budget" }), undefined);
});

Deno.test("readFdLimit() reads the soft limit from a limits file", async () => {
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(path, LIMITS);
    assert.deepEqual(await readFdLimit({ path }), { soft: 4321, source: "proc" });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("readFdLimit() asks the shell's ulimit -n when the limits file has no soft limit", async () => {
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(path, LIMITS.replace("4321", "unlimited"));
    const shell = await new Deno.Command("sh", { args: ["-c", "ulimit -n"], stdout: "piped" })
      .output();
    const expected = Number(new TextDecoder().decode(shell.stdout).trim());
    assert.deepEqual(await readFdLimit({ path }), { soft: expected, source: "ulimit" });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("readFdLimit() is unknown without a limits file and without a shell", async () => {
  // Deno.Command looks sh up in this process's PATH: an empty one finds nothing.
  const saved = Deno.env.get("PATH");
  Deno.env.set("PATH", "/nonexistent");
  try {
    assert.equal(await readFdLimit({ path: "/nonexistent/tcpc-limits" }), undefined);
  } finally {
    if (saved === undefined) Deno.env.delete("PATH");
    else Deno.env.set("PATH", saved);
  }
});
