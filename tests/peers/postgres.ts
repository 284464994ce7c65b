/**
 * A real PostgreSQL server for tests: a throw-away cluster (initdb, trust
 * auth, no fsync) in a temporary directory, listening on loopback only, run as
 * the `postgres` user (the server refuses to run as root). Stopped with a fast
 * shutdown (SIGINT) and its directory removed.
 *
 * @module
 */

import { freePort, type Peer, stopChild, waitForPort } from "./servers.ts";
import { outputWithin } from "./cli.ts";

/** The PostgreSQL bin directory, or null when PostgreSQL is not installed. */
export function postgresBin(): string | null {
  try {
    for (const entry of Deno.readDirSync("/usr/lib/postgresql")) {
      const bin = `/usr/lib/postgresql/${entry.name}/bin`;
      try {
        Deno.statSync(`${bin}/initdb`);
        return bin;
      } catch { /* not this one */ }
    }
  } catch { /* not installed */ }
  return null;
}

/** The uid and gid of the `postgres` user, from /etc/passwd. */
function postgresUser(): { uid: number; gid: number } {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n").find((l) =>
    l.startsWith("postgres:")
  );
  const fields = line?.split(":");
  if (fields === undefined) throw new Error("no postgres user in /etc/passwd");
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** Starts PostgreSQL on a free loopback port. */
export async function startPostgres(bin: string): Promise<Peer> {
  const user = postgresUser();
  const dir = Deno.makeTempDirSync({ prefix: "tcpc-pg-" });
  Deno.chownSync(dir, user.uid, user.gid);
  const initdb = new Deno.Command(`${bin}/initdb`, {
    args: ["-D", `${dir}/data`, "-A", "trust", "-U", "postgres"],
    ...user,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const init = await outputWithin(initdb, 120_000);
  if (init.code !== 0) {
    Deno.removeSync(dir, { recursive: true });
    throw new Error(`initdb failed: ${new TextDecoder().decode(init.stderr)}`);
  }
  const port = freePort();
  const child = new Deno.Command(`${bin}/postgres`, {
    args: [
      "-D",
      `${dir}/data`,
      "-p",
      String(port),
      "-k",
      dir,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "fsync=off",
    ],
    ...user,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    await stopChild(child, { signal: "SIGINT", graceMs: 10_000 });
    Deno.removeSync(dir, { recursive: true });
  };
  try {
    await waitForPort(port);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, stop, [Symbol.asyncDispose]: stop };
}
