/**
 * Figures 1 and 2: bulk transfer over loopback through stdin and stdout.
 *
 *  1. send: `dd if=/dev/zero bs=1M | CLIENT` to a sink in this process that
 *     counts every byte;
 *  2. receive: a source in this process writes the bytes and closes;
 *     `CLIENT > /dev/null` and `CLIENT | dd of=/dev/null bs=1M` (dd's byte
 *     count is checked).
 *
 * Clients: tcpc (`deno run -P main.ts`), `nc -N`/`nc -d` (OpenBSD), `socat
 * -b262144`, `ncat --send-only`/`--recv-only`. Each repetition runs every
 * client once, in a rotating order; the figure reports medians. Time is wall
 * time from spawning the pipeline until both the client exited and the
 * in-process peer saw the last byte, so it includes each client's start-up
 * (tcpc's ~60 ms, see figure 6).
 *
 * Standalone: `deno run -P=bench bench/transfer.ts [--quick] [--size MiB] [--reps N]`.
 *
 * @module
 */

import {
  type BenchOptions,
  cleanStderr,
  type Figure,
  findPeers,
  makeRow,
  oneShot,
  printLine,
  rotate,
  type Row,
  say,
  shell,
  TCPC,
  within,
} from "./common.ts";

const HOST = "127.0.0.1";
const MiB = 1 << 20;

/** A client command line for one direction. */
interface Client {
  /** Short name for tables. */
  name: string;
  /** Which peer program it needs ("tcpc" needs none). */
  needs: string;
  /** The command, given the port. */
  command: (port: number) => string;
}

/** Figure 1 clients: read stdin, send it, half-close. */
export const SEND_CLIENTS: Client[] = [
  { name: "tcpc", needs: "tcpc", command: (port) => `${TCPC} ${HOST} ${port}` },
  { name: "nc -N", needs: "nc", command: (port) => `nc -N ${HOST} ${port}` },
  {
    name: "socat -b262144",
    needs: "socat",
    command: (port) => `socat -u -b262144 STDIN TCP:${HOST}:${port}`,
  },
  {
    name: "ncat --send-only",
    needs: "ncat",
    command: (port) => `ncat --send-only ${HOST} ${port}`,
  },
];

/** Figure 2 clients: receive until the peer closes, write to stdout. */
export const RECEIVE_CLIENTS: Client[] = [
  { name: "tcpc", needs: "tcpc", command: (port) => `${TCPC} ${HOST} ${port} < /dev/null` },
  { name: "nc -d", needs: "nc", command: (port) => `nc -d ${HOST} ${port} < /dev/null` },
  {
    name: "socat -b262144",
    needs: "socat",
    command: (port) => `socat -u -b262144 TCP:${HOST}:${port} STDOUT`,
  },
  {
    name: "ncat --recv-only",
    needs: "ncat",
    command: (port) => `ncat --recv-only ${HOST} ${port} < /dev/null`,
  },
];

async function sink(conn: Deno.TcpConn): Promise<number> {
  const buffer = new Uint8Array(MiB);
  let total = 0;
  for (let n; (n = await conn.read(buffer)) !== null;) total += n;
  return total;
}

function source(bytes: number): (conn: Deno.TcpConn) => Promise<number> {
  const chunk = new Uint8Array(MiB);
  return async (conn) => {
    let sent = 0;
    while (sent < bytes) sent += await conn.write(chunk.subarray(0, Math.min(MiB, bytes - sent)));
    return sent;
  };
}

/** One timed transfer; returns GB/s or throws with the reason. */
async function sendOnce(client: Client, mib: number): Promise<number> {
  const peer = oneShot(sink);
  try {
    const started = performance.now();
    const result = await shell(
      `dd if=/dev/zero bs=1M count=${mib} status=none | ${client.command(peer.port)}`,
    );
    if (result.code !== 0) {
      throw new Error(`${client.name}: exit ${result.code}: ${cleanStderr(result.stderr)}`);
    }
    const got = await within(peer.done, 10_000, `${client.name}: sink`);
    const ms = performance.now() - started;
    if (got !== mib * MiB) throw new Error(`${client.name}: sink got ${got} of ${mib * MiB} bytes`);
    return (mib * MiB) / ms / 1e6;
  } finally {
    peer.close();
  }
}

async function receiveOnce(client: Client, mib: number, into: "null" | "pipe"): Promise<number> {
  const bytes = mib * MiB;
  const peer = oneShot(source(bytes));
  try {
    const started = performance.now();
    const script = into === "null"
      ? `${client.command(peer.port)} > /dev/null`
      : `${client.command(peer.port)} | dd of=/dev/null bs=1M`;
    const result = await shell(script);
    if (result.code !== 0) {
      throw new Error(`${client.name}: exit ${result.code}: ${cleanStderr(result.stderr)}`);
    }
    const sent = await within(peer.done, 10_000, `${client.name}: source`);
    const ms = performance.now() - started;
    if (sent !== bytes) throw new Error(`${client.name}: source sent ${sent} of ${bytes} bytes`);
    if (into === "pipe") {
      const copied = Number(/^(\d+) bytes/m.exec(result.stderr)?.[1] ?? NaN);
      if (copied !== bytes) {
        throw new Error(`${client.name}: the pipe got ${copied} of ${bytes} bytes`);
      }
    }
    return bytes / ms / 1e6;
  } finally {
    peer.close();
  }
}

/** Runs the clients alternately `reps` times; returns samples per client name. */
async function alternate(
  clients: Client[],
  reps: number,
  once: (client: Client) => Promise<number>,
  label: string,
  notes: string[],
): Promise<Map<string, number[]>> {
  const samples = new Map<string, number[]>(clients.map((c) => [c.name, []]));
  for (let rep = 0; rep < reps; rep++) {
    const line: string[] = [];
    for (const client of rotate(clients, rep)) {
      try {
        const value = await once(client);
        samples.get(client.name)!.push(value);
        line.push(`${client.name} ${value.toFixed(2)}`);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        notes.push(`${label}, repetition ${rep + 1}: ${message}`);
        line.push(`${client.name} FAILED`);
      }
    }
    say(`${label} ${rep + 1}/${reps}: ${line.join(", ")} GB/s`);
  }
  return samples;
}

function rowsFor(
  figure: string,
  caseName: string,
  samples: Map<string, number[]>,
  targets: Record<string, number>,
): Row[] {
  const tcpc = samples.get("tcpc") ?? [];
  return [...samples.entries()].filter(([name]) => name !== "tcpc").map(([name, peer]) =>
    makeRow({
      figure,
      case: caseName,
      peer: name,
      unit: "GB/s",
      higherIsBetter: true,
      tcpc,
      peerSamples: peer,
      target: targets[name] ?? null,
    })
  );
}

/** Runs figures 1 and 2 and returns them. */
export async function runTransfer(options: BenchOptions = {}): Promise<Figure[]> {
  const mib = options.sizeMiB ?? (options.quick ? 128 : 1024);
  const reps = options.reps ?? (options.quick ? 3 : 5);
  const found = await findPeers();
  if (!found.dd) {
    return ["1", "2"].map((figure) => ({
      figure,
      title: "transfer",
      rows: [],
      notes: ["dd is missing (coreutils)"],
    }));
  }
  const usable = (clients: Client[], notes: string[]) =>
    clients.filter((c) => {
      const ok = c.needs === "tcpc" || found[c.needs] === true;
      if (!ok) notes.push(`skipped ${c.name}: ${c.needs} is not installed`);
      return ok;
    });
  const size = mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`;
  const method = `${size} per transfer, ${reps} repetitions per client in rotating order; ` +
    "wall time from spawn to last byte, start-up included";

  const sendNotes = [method];
  const send = await alternate(
    usable(SEND_CLIENTS, sendNotes),
    reps,
    (c) => sendOnce(c, mib),
    "fig 1 send",
    sendNotes,
  );
  const receiveNotes = [method, "pipe: `CLIENT | dd of=/dev/null bs=1M`"];
  const receiveClients = usable(RECEIVE_CLIENTS, receiveNotes);
  const toNull = await alternate(
    receiveClients,
    reps,
    (c) => receiveOnce(c, mib, "null"),
    "fig 2 receive > /dev/null",
    receiveNotes,
  );
  const toPipe = await alternate(
    receiveClients,
    reps,
    (c) => receiveOnce(c, mib, "pipe"),
    "fig 2 receive | pipe",
    receiveNotes,
  );
  return [
    {
      figure: "1",
      title: `Send ${size} from stdin (a pipe) to a loopback sink`,
      rows: rowsFor("1", "stdin pipe -> sink", send, { "nc -N": 1.0, "socat -b262144": 1.0 }),
      notes: sendNotes,
    },
    {
      figure: "2",
      title: `Receive ${size} from a loopback source to stdout`,
      rows: [
        ...rowsFor("2", "source -> stdout /dev/null", toNull, { "socat -b262144": 1.0 }),
        ...rowsFor("2", "source -> stdout pipe", toPipe, { "nc -d": 1.5, "socat -b262144": 1.0 }),
      ],
      notes: receiveNotes,
    },
  ];
}

function flagValue(name: string): number | undefined {
  const at = Deno.args.indexOf(`--${name}`);
  const value = at === -1 ? NaN : Number(Deno.args[at + 1]);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

if (import.meta.main) {
  const options: BenchOptions = { quick: Deno.args.includes("--quick") };
  const size = flagValue("size");
  const reps = flagValue("reps");
  if (size !== undefined) options.sizeMiB = size;
  if (reps !== undefined) options.reps = reps;
  printLine(JSON.stringify({ figures: await runTransfer(options) }));
}
