/**
 * Two real server processes side by side, "base" and "feature", each on its own MariaDB database,
 * sent the same records in JSON batches over HTTP by concurrent clients, in alternating rounds:
 * each round in halves, A B B A (B A A B the next), so both meet the same drift of a machine that
 * other work shares, and neither always the warmer process or the fuller database. Per round:
 * records/s, the server process's CPU and mariadbd's per 1000 records, the mean commit time of a
 * batch (the server's own cmdaudit_ingest_duration_seconds), and the ratio feature/base; the
 * medians. Used by the alerts bench (rules on/off) and the redaction bench (redaction on/off).
 */
import { readdirSync, readFileSync } from "node:fs";
import type { WireRecord } from "../protocol/index.ts";
import { type RunningServer, startServer } from "../test/support/server.ts";
import { fmt, median } from "./table.ts";

const CLK_TCK = 100; // Linux USER_HZ

export interface AbSide {
  /** In the table: "rules on (defaults)". */
  label: string;
  env: Record<string, string>;
}

export interface AbOptions {
  base: AbSide;
  feature: AbSide;
  /** Records per round and server. */
  records: number;
  batch: number;
  clients: number;
  rounds: number;
  /** Batches each server takes before the first round, not counted (JIT, pool connections). */
  warmBatches: number;
  /** Record i of the corpus: rounds × records + warmBatches × batch of them are sent to each server. */
  wire: (i: number) => WireRecord;
  ingestToken: string;
  readToken: string;
}

export interface AbResult {
  /** The table's rows: one per round and server, the medians, the ratios. */
  rows: (string | number)[][];
  /** Median of the rounds' records/s ratios feature/base. */
  ratio: number;
  /** Median of the rounds' server CPU per record ratios feature/base. */
  cpuRatio: number;
}

export const AB_HEADER = ["round", "server", "seconds", "records/s", "server CPU", "mariadbd CPU", "commitBatch ms", "feature/base"];

/** User+system CPU seconds of a process so far (undefined when it cannot be read). */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** mariadbd's (or mysqld's) pid when it runs on this machine and /proc shows it. */
export function databasePid(): number | undefined {
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const comm = readFileSync(`/proc/${d}/comm`, "utf8").trim();
      if (comm === "mariadbd" || comm === "mysqld") return Number(d);
    } catch { /* gone */ }
  }
  return undefined;
}

export async function metric(server: RunningServer, token: string, name: string): Promise<number> {
  const res = await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${token}` } });
  const text = await res.text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  if (!m) throw new Error(`/metrics has no ${name} (HTTP ${res.status})`);
  return Number(m[1]);
}

type Body = { body: string; records: number };

async function runClients(bodies: Body[], clients: number, send: (b: Body) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < bodies.length) await send(bodies[next++]!);
  }));
  return (performance.now() - t0) / 1000;
}

/**
 * Runs the rounds with both servers up; `after` sees them before they stop (counts, metrics).
 * Every batch must be accepted whole, or the run fails.
 */
export async function abIngest(o: AbOptions, after?: (servers: { base: RunningServer; feature: RunningServer }) => Promise<void>): Promise<AbResult> {
  const { records, batch, clients, rounds } = o;
  const servers: { name: "base" | "feature"; side: AbSide; server: RunningServer; rates: number[] }[] = [];
  try {
    servers.push({ name: "base", side: o.base, server: await startServer(o.base.env), rates: [] });
    servers.push({ name: "feature", side: o.feature, server: await startServer(o.feature.env), rates: [] });
    const dbPid = databasePid();
    const bodyOf = (first: number, n: number): Body => ({ body: JSON.stringify(Array.from({ length: n }, (_, k) => o.wire(first + k))), records: n });
    const post = (server: RunningServer) => async (b: Body) => {
      const res = await fetch(`${server.url}/api/v1/commands`, { method: "POST", headers: { AccessToken: o.ingestToken, "Content-Type": "application/json" }, body: b.body });
      const j = (await res.json()) as { code: number; accepted: number };
      if (j.code !== 0 || j.accepted !== b.records) throw new Error(`ingest failed: ${JSON.stringify(j).slice(0, 200)}`);
    };
    const warm = Array.from({ length: o.warmBatches }, (_, b) => bodyOf(rounds * records + b * batch, batch));
    for (const s of servers) await runClients(warm, clients, post(s.server));

    const rows: (string | number)[][] = [];
    const ratios: number[] = [];
    const cpuRatios: number[] = [];
    const perK = (x: number | undefined) => (x === undefined ? "n/a" : fmt((x * 1e6) / records, 1));
    const m = (s: RunningServer, name: string) => metric(s, o.readToken, name);
    for (let round = 0; round < rounds; round++) {
      const first = round * records;
      const bodies: Body[] = [];
      for (let i = 0; i < records; i += batch) bodies.push(bodyOf(first + i, Math.min(batch, records - i)));
      const halves = [bodies.slice(0, Math.ceil(bodies.length / 2)), bodies.slice(Math.ceil(bodies.length / 2))];
      const got = new Map(servers.map((s) => [s.name, { seconds: 0, serverCpu: 0, dbCpu: 0 as number | undefined, sum: 0, n: 0 }]));
      const run = async (s: (typeof servers)[number], part: Body[]) => {
        const [sum0, n0, cpu0, db0] = [await m(s.server, "cmdaudit_ingest_duration_seconds_sum"), await m(s.server, "cmdaudit_ingest_duration_seconds_count"), cpuSeconds(s.server.proc.pid), cpuSeconds(dbPid)];
        const seconds = await runClients(part, clients, post(s.server));
        const [cpu1, db1] = [cpuSeconds(s.server.proc.pid), cpuSeconds(dbPid)];
        const [sum1, n1] = [await m(s.server, "cmdaudit_ingest_duration_seconds_sum"), await m(s.server, "cmdaudit_ingest_duration_seconds_count")];
        const g = got.get(s.name)!;
        g.seconds += seconds;
        g.serverCpu += cpu1! - cpu0!;
        g.dbCpu = g.dbCpu === undefined || db0 === undefined || db1 === undefined ? undefined : g.dbCpu + db1 - db0;
        g.sum += sum1 - sum0;
        g.n += n1 - n0;
      };
      const [a, b] = round % 2 === 0 ? [servers[0]!, servers[1]!] : [servers[1]!, servers[0]!];
      await run(a, halves[0]!);
      await run(b, halves[0]!);
      await run(b, halves[1]!);
      await run(a, halves[1]!);
      for (const s of servers) s.rates.push(records / got.get(s.name)!.seconds);
      const [fe, ba] = [got.get("feature")!, got.get("base")!];
      const ratio = ba.seconds / fe.seconds;
      ratios.push(ratio);
      cpuRatios.push(fe.serverCpu / ba.serverCpu);
      for (const s of [a, b]) {
        const g = got.get(s.name)!;
        rows.push([`${round + 1}`, s.side.label, fmt(g.seconds, 2), fmt(records / g.seconds), perK(g.serverCpu), perK(g.dbCpu), fmt((g.sum / g.n) * 1000, 1),
          s.name === "feature" ? `${fmt(ratio * 100, 1)}%` : ""]);
      }
    }
    for (const s of servers) rows.push(["median", s.side.label, "", fmt(median(s.rates)), "", "", "", ""]);
    const ratio = median(ratios);
    const cpuRatio = median(cpuRatios);
    rows.push(["ratio", "records/s feature / base (median of the rounds' ratios)", "", "", "", "", "", `${fmt(ratio * 100, 1)}%`]);
    rows.push(["ratio", "server CPU per record feature / base (median)", "", "", "", "", "", `${fmt(cpuRatio * 100, 1)}%`]);
    await after?.({ base: servers[0]!.server, feature: servers[1]!.server });
    return { rows, ratio, cpuRatio };
  } finally {
    for (const s of servers) await s.server.stop();
  }
}
