/**
 * Real proxies for tests, each on a free port of 127.0.0.1 and stopped by
 * `stop()` / `await using`: microsocks (SOCKS5, optionally -u/-P), danted
 * (SOCKS4 and SOCKS5), tinyproxy (HTTP CONNECT, optionally BasicAuth), a
 * SOCKS4a server on Perl's IO::Socket::Socks (tests/peers/socks4a_server.pl),
 * and haproxy with `accept-proxy` in front of a backend.
 *
 * Debian packages: microsocks, dante-server, tinyproxy, haproxy,
 * libio-socket-socks-perl.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { freePort, type Peer, stopChild, waitForPort } from "./servers.ts";

/** A running proxy. */
export interface ProxyPeer extends Peer {
  /** `127.0.0.1:port`. */
  address: string;
}

const SOCKS4A_SCRIPT = fileURLToPath(new URL("./socks4a_server.pl", import.meta.url));

/** What {@linkcode startConfigured} needs to start one program. */
interface StartSpec {
  command: string;
  /** Arguments, given the port and a private temp dir. */
  args: (port: number, dir: string) => string[];
  /** Files to write in the temp dir first, given the port and the dir. */
  files?: (port: number, dir: string) => Record<string, string>;
}

async function startConfigured(spec: StartSpec): Promise<ProxyPeer> {
  const dir = await Deno.makeTempDir({ prefix: "tcpc-proxy-" });
  const port = freePort();
  for (const [name, text] of Object.entries(spec.files?.(port, dir) ?? {})) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
  }
  const child = new Deno.Command(spec.command, {
    args: spec.args(port, dir),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      await stopChild(child);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
  try {
    await waitForPort(port);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, address: `127.0.0.1:${port}`, stop, [Symbol.asyncDispose]: stop };
}

/** Credentials for a proxy that requires them. */
export interface ProxyCredentials {
  /** User name. */
  username: string;
  /** Password. */
  password: string;
}

/** microsocks (SOCKS5), with username/password authentication when `auth` is given. */
export function startMicrosocks(auth?: ProxyCredentials): Promise<ProxyPeer> {
  return startConfigured({
    command: "microsocks",
    args: (port) => [
      "-i",
      "127.0.0.1",
      "-p",
      String(port),
      ...(auth ? ["-u", auth.username, "-P", auth.password] : []),
    ],
  });
}

/**
 * danted (dante-server), SOCKS4 and SOCKS5, no authentication. It runs as
 * root here (no `user.*` drop), connects out through `lo`, and allows only
 * 127.0.0.0/8 clients and CONNECT. (Its `username` method checks the system's
 * password database, so the authenticated SOCKS5 tests use microsocks.)
 */
export function startDanted(): Promise<ProxyPeer> {
  return startConfigured({
    command: "danted",
    files: (port) => ({
      "danted.conf": [
        "logoutput: stderr",
        `internal: 127.0.0.1 port = ${port}`,
        "external: lo",
        "socksmethod: none",
        "clientmethod: none",
        "user.privileged: root",
        "user.unprivileged: root",
        "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }",
        "socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect }",
        "",
      ].join("\n"),
    }),
    args: (_port, dir) => ["-f", `${dir}/danted.conf`, "-p", `${dir}/danted.pid`],
  });
}

/** tinyproxy (HTTP CONNECT to any port), with BasicAuth when `auth` is given. */
export function startTinyproxy(auth?: ProxyCredentials): Promise<ProxyPeer> {
  return startConfigured({
    command: "tinyproxy",
    files: (port) => ({
      "tinyproxy.conf": [
        `Port ${port}`,
        "Listen 127.0.0.1",
        "Timeout 60",
        "Allow 127.0.0.1",
        "MaxClients 100",
        "LogLevel Critical",
        // No ConnectPort line: CONNECT is allowed to every port.
        ...(auth ? [`BasicAuth ${auth.username} ${auth.password}`] : []),
        "",
      ].join("\n"),
    }),
    args: (_port, dir) => ["-d", "-c", `${dir}/tinyproxy.conf`],
  });
}

/** SOCKS4 and SOCKS4a on IO::Socket::Socks; with `userId`, other user ids get reply 93. */
export function startSocks4a(userId?: string): Promise<ProxyPeer> {
  return startConfigured({
    command: "perl",
    args: (port) => [SOCKS4A_SCRIPT, String(port), ...(userId === undefined ? [] : [userId])],
  });
}

/**
 * haproxy in TCP mode with `accept-proxy`: it requires a PROXY header (v1 or
 * v2) from each client and forwards to `127.0.0.1:backendPort` with a v1
 * header of its own (`send-proxy`). Behind an echo backend, the client reads
 * back `PROXY TCP4 <the source haproxy parsed> ...\r\n` and then its data.
 */
export function startHaproxy(backendPort: number): Promise<ProxyPeer> {
  return startConfigured({
    command: "haproxy",
    files: (port) => ({
      "haproxy.cfg": [
        "global",
        "  maxconn 100",
        "defaults",
        "  mode tcp",
        "  timeout connect 5s",
        "  timeout client 60s",
        "  timeout server 60s",
        "frontend fe",
        `  bind 127.0.0.1:${port} accept-proxy`,
        "  default_backend be",
        "backend be",
        `  server echo 127.0.0.1:${backendPort} send-proxy`,
        "",
      ].join("\n"),
    }),
    args: (_port, dir) => ["-db", "-f", `${dir}/haproxy.cfg`],
  });
}
