/**
 * Figures 9 and 10: TLS.
 *
 *  9. receive 256 MiB over TLS into a pipe (`CLIENT | dd of=/dev/null bs=1M`,
 *     dd's byte count checked) from a local TLS source, `socat
 *     OPENSSL-LISTEN,fork` feeding `head -c N /dev/zero`, with a certificate
 *     generated for the run. Clients: `tcpc --tls --insecure`, `socat
 *     OPENSSL`, `ncat --ssl --recv-only`, `openssl s_client -quiet`; none
 *     verifies (a self-signed certificate), so all do the same work. Goal
 *     (issue 16): ahead of all three.
 * 10. full TLS handshakes per second against one `openssl s_server`:
 *     `tcpc probe --tls --insecure` of N copies of the target (`-f` file)
 *     against `openssl s_time -new -time T` (one connection at a time, no
 *     session reuse). Reported, no goal yet.
 *
 * Standalone: `deno run -P=bench bench/tls.ts [--quick] [--reps N] [--size MiB]`.
 *
 * @module
 */

import {
  type BenchOptions,
  cleanStderr,
  type Figure,
  makeRow,
  median,
  printLine,
  rotate,
  say,
  shell,
  TCPC,
} from "./common.ts";
import { stopChild } from "../tests/peers/servers.ts";

const MiB = 1 << 20;
const HOST = "127.0.0.1";

/** A TLS receive client: its name, the program it needs, and its command given the port. */
interface TlsClient {
  name: string;
  needs: string;
  command: (port: number) => string;
}

const CLIENTS: TlsClient[] = [
  {
    name: "tcpc",
    needs: "deno",
    command: (port) => `${TCPC} --tls --insecure ${HOST} ${port} < /dev/null`,
  },
  {
    name: "socat OPENSSL",
    needs: "socat",
    command: (port) => `socat -u -b262144 OPENSSL:${HOST}:${port},verify=0 STDOUT`,
  },
  {
    name: "ncat --ssl",
    needs: "ncat",
    command: (port) => `ncat --ssl --recv-only ${HOST} ${port} < /dev/null`,
  },
  {
    name: "openssl s_client",
    needs: "openssl",
    command: (port) => `openssl s_client -quiet -connect ${HOST}:${port} < /dev/null`,
  },
];

async function has(program: string): Promise<boolean> {
  return (await shell(`command -v ${program}`)).code === 0;
}

/** A free loopback port (closed again; the server binds it a moment later). */
function freePort(): number {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Waits until something listens on `port` (a plain connect that is closed at once). */
async function listening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      (await Deno.connect({ hostname: HOST, port })).close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`nothing listens on ${port} after 5 s`);
}

/** Starts a long-running server; returns a stop function. */
async function server(args: string[], port: number): Promise<() => Promise<void>> {
  const child = new Deno.Command(args[0]!, {
    args: args.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await listening(port);
  } catch (err) {
    child.kill("SIGKILL");
    await child.status;
    throw err;
  }
  return async () => {
    await stopChild(child);
  };
}

/** A self-signed EC certificate for 127.0.0.1 in a temporary directory. */
async function certificate(dir: string): Promise<{ cert: string; key: string }> {
  const cert = `${dir}/cert.pem`;
  const key = `${dir}/key.pem`;
  const made = await shell(
    `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ` +
      `-keyout ${key} -out ${cert} -days 2 -subj /CN=localhost ` +
      `-addext subjectAltName=IP:127.0.0.1,DNS:localhost`,
  );
  if (made.code !== 0) throw new Error(`openssl req: ${cleanStderr(made.stderr)}`);
  return { cert, key };
}

async function receiveOnce(client: TlsClient, port: number, bytes: number): Promise<number> {
  const result = await shell(`${client.command(port)} | dd of=/dev/null bs=1M`, {
    timeoutMs: 120_000,
  });
  const copied = Number(/^(\d+) bytes/m.exec(result.stderr)?.[1] ?? NaN);
  if (copied !== bytes) {
    throw new Error(
      `${client.name}: exit ${result.code}, the pipe got ${copied} of ${bytes} bytes: ` +
        cleanStderr(result.stderr).split("\n").slice(-2).join(" "),
    );
  }
  return bytes / result.ms / 1e6;
}

/** Figure 9: TLS receive into a pipe. */
async function receiveFigure(
  options: BenchOptions,
  pem: { cert: string; key: string },
  found: Record<string, boolean>,
): Promise<Figure> {
  const mib = options.sizeMiB ?? (options.quick ? 64 : 256);
  const reps = options.reps ?? (options.quick ? 3 : 5);
  const bytes = mib * MiB;
  const notes = [
    `${mib} MiB per transfer from \`socat OPENSSL-LISTEN,fork\` + \`head -c\`, ${reps} ` +
    "repetitions per client in rotating order; wall time from spawn to exit, start-up included; " +
    "`CLIENT | dd of=/dev/null bs=1M`, dd's count checked; nobody verifies the certificate",
  ];
  const clients = CLIENTS.filter((c) => {
    const ok = found[c.needs] === true;
    if (!ok) notes.push(`skipped ${c.name}: ${c.needs} is not installed`);
    return ok;
  });
  const port = freePort();
  const stop = await server([
    "socat",
    "-U",
    "-b262144",
    `OPENSSL-LISTEN:${port},bind=${HOST},reuseaddr,fork,cert=${pem.cert},key=${pem.key},verify=0`,
    `SYSTEM:head -c ${bytes} /dev/zero`,
  ], port);
  const samples = new Map<string, number[]>(clients.map((c) => [c.name, []]));
  try {
    for (let rep = 0; rep < reps; rep++) {
      const line: string[] = [];
      for (const client of rotate(clients, rep)) {
        try {
          const value = await receiveOnce(client, port, bytes);
          samples.get(client.name)!.push(value);
          line.push(`${client.name} ${value.toFixed(2)}`);
        } catch (err) {
          notes.push(`repetition ${rep + 1}: ${err instanceof Error ? err.message : String(err)}`);
          line.push(`${client.name} FAILED`);
        }
      }
      say(`fig 9 TLS receive | pipe ${rep + 1}/${reps}: ${line.join(", ")} GB/s`);
    }
  } finally {
    await stop();
  }
  const tcpc = samples.get("tcpc") ?? [];
  return {
    figure: "9",
    title: `TLS: receive ${mib} MiB into a pipe`,
    rows: [...samples].filter(([name]) => name !== "tcpc").map(([name, peer]) =>
      makeRow({
        figure: "9",
        case: "TLS source -> stdout pipe",
        peer: name,
        unit: "GB/s",
        higherIsBetter: true,
        tcpc,
        peerSamples: peer,
        target: 1.0,
      })
    ),
    notes,
  };
}

/** Figure 10: full TLS handshakes per second, one server, tcpc probe vs openssl s_time. */
async function handshakeFigure(
  options: BenchOptions,
  pem: { cert: string; key: string },
  dir: string,
): Promise<Figure> {
  const reps = options.reps ?? (options.quick ? 1 : 3);
  const count = options.quick ? 200 : 1000;
  const seconds = options.quick ? 2 : 5;
  const port = freePort();
  const notes = [
    `one \`openssl s_server\` (TLS 1.3, P-256 certificate); tcpc: \`probe --tls --insecure -f\` ` +
    `of ${count} copies of the target (default -c), handshakes / wall time of the process, ` +
    `start-up included; openssl: \`s_time -new -time ${seconds}\` (sequential, no reuse); ` +
    `${reps} runs each, alternating`,
  ];
  const targets = `${dir}/targets.txt`;
  await Deno.writeTextFile(targets, `${HOST}:${port}\n`.repeat(count));
  const stop = await server([
    "openssl",
    "s_server",
    "-accept",
    `${HOST}:${port}`,
    "-cert",
    pem.cert,
    "-key",
    pem.key,
    "-quiet",
  ], port);
  const tcpc: number[] = [];
  const sTime: number[] = [];
  try {
    for (let rep = 0; rep < reps; rep++) {
      const runs = [
        async () => {
          const result = await shell(
            `${TCPC} probe --tls --insecure -f ${targets} --json`,
            { timeoutMs: 300_000 },
          );
          const open = result.stdout.split("\n").filter((l) => l.includes('"state":"open"'));
          if (open.length !== count) {
            notes.push(
              `tcpc run ${rep + 1}: ${open.length} of ${count} open (exit ${result.code})`,
            );
            return;
          }
          tcpc.push(count / (result.ms / 1000));
        },
        async () => {
          const result = await shell(
            `openssl s_time -connect ${HOST}:${port} -new -time ${seconds}`,
            { timeoutMs: 120_000 },
          );
          // "N connections in T real seconds, ..."
          const match = /(\d+) connections in (\d+(?:\.\d+)?) real seconds/.exec(result.stdout);
          if (match === null) {
            notes.push(`s_time run ${rep + 1}: no result (exit ${result.code})`);
            return;
          }
          sTime.push(Number(match[1]) / Number(match[2]));
        },
      ];
      for (const run of rotate(runs, rep)) await run();
    }
  } finally {
    await stop();
  }
  say(
    `fig 10: tcpc probe --tls ${median(tcpc)?.toFixed(0)}/s, s_time ${median(sTime)?.toFixed(0)}/s`,
  );
  return {
    figure: "10",
    title: "TLS handshakes per second against one server",
    rows: [makeRow({
      figure: "10",
      case: "full handshakes",
      peer: "openssl s_time -new",
      unit: "/s",
      higherIsBetter: true,
      tcpc,
      peerSamples: sTime,
      note: "s_time counts whole seconds of real time: its rate is coarse",
    })],
    notes,
  };
}

/** Runs figures 9 and 10 and returns them. */
export async function runTls(options: BenchOptions = {}): Promise<Figure[]> {
  const found: Record<string, boolean> = { deno: true };
  for (const program of ["socat", "ncat", "openssl"]) found[program] = await has(program);
  if (!found.openssl || !found.socat) {
    return [{
      figure: "9",
      title: "TLS",
      rows: [],
      notes: ["skipped: openssl and socat are needed for the TLS source and server"],
    }];
  }
  say("fig 9-10: generating a certificate");
  const dir = await Deno.makeTempDir({ prefix: "tcpc-bench-tls-" });
  try {
    const pem = await certificate(dir);
    return [
      await receiveFigure(options, pem, found),
      await handshakeFigure(options, pem, dir),
    ];
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const options: BenchOptions = { quick: Deno.args.includes("--quick") };
  const at = Deno.args.indexOf("--reps");
  if (at !== -1) options.reps = Number(Deno.args[at + 1]);
  const size = Deno.args.indexOf("--size");
  if (size !== -1) options.sizeMiB = Number(Deno.args[size + 1]);
  printLine(JSON.stringify({ figures: await runTls(options) }));
}
