/**
 * Scripts that exercise lib/net/stdio.ts in a process of their own, with
 * stdin, stdout and stderr that the test controls.
 *
 * @module
 */

/** lib/net/stdio.ts, as a script imports it. */
export const STDIO_MODULE = new URL("../../lib/net/stdio.ts", import.meta.url).href;

/**
 * Writes `code` to `path` after an import of lib/net/stdio.ts as `stdio`.
 *
 * @example A script that prints what stdin is
 * ```ts ignore
 * import { writeStdioScript } from "./stdio_script.ts";
 * await writeStdioScript("/tmp/s.ts", `console.log(await stdio.streamKind(0));`);
 * ```
 */
export async function writeStdioScript(path: string, code: string): Promise<void> {
  await Deno.writeTextFile(path, `import * as stdio from "${STDIO_MODULE}";\n${code}`);
}

/**
 * Writes `code` to `path` after an import of lib/net/stdio.ts as `stdio`, and
 * starts it with `deno run -A`, every stream piped. No shell sits in between,
 * so a kill guard (`outputWithin`) kills the script itself. The caller removes
 * `path`.
 *
 * @example Read a line from the script
 * ```ts ignore
 * import { spawnStdioScript } from "./stdio_script.ts";
 * const child = await spawnStdioScript("/tmp/s.ts", `console.log(await stdio.streamKind(0));`);
 * ```
 */
export async function spawnStdioScript(path: string, code: string): Promise<Deno.ChildProcess> {
  await writeStdioScript(path, code);
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}
