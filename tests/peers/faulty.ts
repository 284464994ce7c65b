/**
 * Fault-injecting peers for tests: servers on loopback (in this process) that
 * misbehave on purpose, the way real peers fail. Each one listens on a free
 * port of 127.0.0.1, counts what it saw, and is stopped by `stop()` /
 * `await using` (which closes every connection it holds and waits for its
 * handlers, so the test sanitizers stay clean).
 *
 * How a reset is made: Deno's `conn.close()` sends FIN first (it calls
 * shutdown(SHUT_WR) before close), and Deno has no SO_LINGER, so a peer cannot
 * reset by closing. Instead the peer aborts its own socket with `ss -K`
 * (iproute2; tcp_abort() in the kernel, needs CAP_NET_ADMIN and
 * CONFIG_INET_DIAG_DESTROY), which sends RST exactly like a close with
 * SO_LINGER 0: the client gets ECONNRESET with no FIN before it.
 *
 * @module
 */

/** A running faulty peer. */
export interface FaultyPeer extends AsyncDisposable {
  /** Its loopback port. */
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections whose client went away (read saw EOF or an error), so far. */
  readonly clientGone: number;
  /** Resolves with the time (performance.now()) the first client went away. */
  firstClientGone: Promise<number>;
  /** Stops listening, closes every connection, waits for the handlers. */
  stop(): Promise<void>;
}

/** What a handler gets for one connection. */
export interface FaultyConn {
  /** The accepted connection (closed for you when the handler ends). */
  conn: Deno.TcpConn;
  /** Aborted when the peer stops. */
  signal: AbortSignal;
  /** Call when the client is known to be gone. */
  clientGone(): void;
}

/** Options of {@linkcode startFaulty}. */
export interface StartFaultyOptions {
  /** Listen backlog. @default {511} */
  backlog?: number;
  /** Close connections when their handler returns. @default {true} */
  closeOnReturn?: boolean;
}

/** Sleeps `ms`, or less when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Writes all of `data` (Deno's write may be partial). */
export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await conn.write(data.subarray(offset));
}

/** Reads and discards until EOF or an error; calls `gone` then. */
async function drain(conn: Deno.Conn, gone: () => void): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    while ((await conn.read(buffer)) !== null) { /* discard */ }
  } catch { /* reset or closed by us */ }
  gone();
}

/**
 * Runs `handler` for every connection accepted on a free loopback port. The
 * building block of the named peers below.
 */
export function startFaulty(
  handler: (c: FaultyConn) => Promise<void>,
  options: StartFaultyOptions = {},
): FaultyPeer {
  const listener = Deno.listen({
    hostname: "127.0.0.1",
    port: 0,
    tcpBacklog: options.backlog ?? 511,
  });
  const port = (listener.addr as Deno.NetAddr).port;
  const controller = new AbortController();
  const conns = new Set<Deno.TcpConn>();
  const handlers = new Set<Promise<void>>();
  let accepted = 0;
  let clientGone = 0;
  let markFirstGone: (at: number) => void = () => {};
  const firstClientGone = new Promise<number>((resolve) => markFirstGone = resolve);
  const closeConn = (conn: Deno.TcpConn) => {
    if (!conns.delete(conn)) return;
    try {
      conn.close();
    } catch { /* closed */ }
  };
  const loop = (async () => {
    while (!controller.signal.aborted) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (err instanceof Deno.errors.BadResource || controller.signal.aborted) return;
        continue; // a client reset before accept
      }
      accepted++;
      conns.add(conn);
      let gone = false;
      const ctx: FaultyConn = {
        conn,
        signal: controller.signal,
        clientGone: () => {
          if (gone) return;
          gone = true;
          clientGone++;
          markFirstGone(performance.now());
        },
      };
      const done: Promise<void> = handler(ctx).catch(() => {}).finally(() => {
        handlers.delete(done);
        if (options.closeOnReturn ?? true) closeConn(conn);
      });
      handlers.add(done);
    }
  })();
  const stop = async () => {
    controller.abort();
    try {
      listener.close();
    } catch { /* closed */ }
    await loop;
    for (const conn of [...conns]) closeConn(conn);
    await Promise.all([...handlers]);
  };
  return {
    port,
    get accepted() {
      return accepted;
    },
    get clientGone() {
      return clientGone;
    },
    firstClientGone,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * Aborts (RST) every TCP socket of this machine that matches the `ss` filter,
 * e.g. `sport = :8080`. Resolves to how many were killed; throws with a clear
 * message when `ss -K` cannot kill sockets here.
 */
export async function killSockets(filter: string): Promise<number> {
  const { code, stdout, stderr } = await new Deno.Command("ss", {
    args: ["-K", "-H", "-tn", filter],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  if (code !== 0) {
    throw new Error(`ss -K failed (${code}): ${new TextDecoder().decode(stderr).trim()}`);
  }
  return text.split("\n").filter((line) => line.trim() !== "").length;
}

let killSupport: Promise<string | null> | undefined;

/** Checks (once) that `ss -K` can abort a socket here: null when it can, else why not. */
export function canKillSockets(): Promise<string | null> {
  killSupport ??= (async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    let client: Deno.TcpConn | undefined;
    let server: Deno.TcpConn | undefined;
    try {
      client = await Deno.connect({ hostname: "127.0.0.1", port });
      server = await listener.accept();
      await killSockets(`sport = :${port}`);
      const read = await client.read(new Uint8Array(1)).then(
        () => "no reset",
        (err) => err instanceof Deno.errors.ConnectionReset ? null : String(err),
      );
      return read === null ? null : `ss -K did not reset the socket (${read})`;
    } catch (err) {
      return `ss -K is unavailable: ${err instanceof Error ? err.message : err}`;
    } finally {
      client?.close();
      try {
        server?.close();
      } catch { /* aborted */ }
      listener.close();
    }
  })();
  return killSupport;
}

/**
 * Sends `payload`, then waits until the client sends something and resets
 * the connection (RST via `ss -K`, no FIN first): the client has received
 * exactly `payload` when the reset comes.
 */
export function startResetter(payload: Uint8Array): FaultyPeer {
  return startFaulty(async ({ conn }) => {
    await writeAll(conn, payload);
    await conn.read(new Uint8Array(64));
    const local = conn.localAddr;
    const remote = conn.remoteAddr;
    await killSockets(`sport = :${local.port} and dport = :${remote.port}`);
  });
}

/** Accepts and closes at once, before reading anything. */
export function startCloser(): FaultyPeer {
  return startFaulty(() => Promise.resolve());
}

/**
 * Accepts and holds every connection open without ever reading from it: a
 * client that sends enough fills the socket buffers and its write blocks.
 */
export function startNeverReader(): FaultyPeer {
  return startFaulty(async ({ signal }) => {
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
  });
}

/** Options of {@linkcode startSlowEcho}. */
export interface SlowEchoOptions {
  /** Largest read, bytes. @default {4096} */
  chunk?: number;
  /** Pause after every `every` reads, ms. @default {1} */
  delayMs?: number;
  /** Reads between pauses. @default {1} */
  every?: number;
}

/**
 * An echo server that reads in small chunks with pauses (a slow reader): the
 * client's writes back up, and must neither drop nor buffer without bound.
 * Half-closes after echoing everything once the client half-closed.
 */
export function startSlowEcho(options: SlowEchoOptions = {}): FaultyPeer {
  const chunk = options.chunk ?? 4096;
  const delayMs = options.delayMs ?? 1;
  const every = options.every ?? 1;
  return startFaulty(async ({ conn, signal, clientGone }) => {
    const buffer = new Uint8Array(chunk);
    let reads = 0;
    while (!signal.aborted) {
      const n = await conn.read(buffer);
      if (n === null) break;
      await writeAll(conn, buffer.subarray(0, n));
      if (++reads % every === 0) await sleep(delayMs, signal);
    }
    clientGone();
    await conn.closeWrite();
  });
}

/**
 * Sends `payload` (e.g. terminal escapes, invalid UTF-8), half-closes, and
 * reads until the client goes away.
 */
export function startSender(payload: Uint8Array): FaultyPeer {
  return startFaulty(async ({ conn, clientGone }) => {
    await writeAll(conn, payload);
    await conn.closeWrite();
    await drain(conn, clientGone);
  });
}

/**
 * Sends `payload` and then keeps the connection open without closing it,
 * reading until the client goes away (for signal tests: the client is
 * interrupted while the connection is still up).
 */
export function startSendAndHold(payload: Uint8Array): FaultyPeer {
  return startFaulty(async ({ conn, clientGone }) => {
    await writeAll(conn, payload);
    await drain(conn, clientGone);
  });
}

/**
 * Floods without end: writes a 64 KiB block again and again, whatever the
 * client does (its EOF is ignored), until a write fails or the peer stops.
 */
export function startFlooder(): FaultyPeer {
  const block = new Uint8Array(64 * 1024).map((_, i) => 0x41 + (i % 26));
  return startFaulty(async ({ conn, signal, clientGone }) => {
    const reading = drain(conn, () => {});
    try {
      while (!signal.aborted) await writeAll(conn, block);
    } catch { /* the client went away */ }
    clientGone();
    try {
      conn.close();
    } catch { /* closed */ }
    await reading;
  }, { closeOnReturn: true });
}

/** What {@linkcode startMassReset} returns. */
export interface MassResetPeer extends FaultyPeer {
  /** Resolves with the number of sockets reset, once `count` were accepted and reset. */
  allReset: Promise<number>;
}

/**
 * Accepts connections until `count` are held, then resets them all at once
 * (one `ss -K` for the port): every client gets RST at the same moment.
 */
export function startMassReset(count: number): MassResetPeer {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => release = resolve);
  let markReset: (n: number) => void = () => {};
  const allReset = new Promise<number>((resolve) => markReset = resolve);
  let held = 0;
  let port = 0;
  const peer = startFaulty(async ({ signal }) => {
    if (++held === count) {
      const killed = await killSockets(`sport = :${port}`).catch(() => 0);
      markReset(killed);
      release();
    }
    await Promise.race([
      gate,
      new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve())),
    ]);
  }, { backlog: 4096, closeOnReturn: true });
  port = peer.port;
  return Object.assign(peer, { allReset });
}
