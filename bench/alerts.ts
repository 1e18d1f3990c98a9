/**
 * Alerts ([alerts] issue): what the built-in rules cost at ingest, and how soon an alert reaches a
 * webhook.
 *  - throughput, side by side in one run, in alternating rounds: two real server processes on
 *    MariaDB, "off" (alerts.disabled_builtins: every built-in, no rules) and "on" (the defaults),
 *    each sent the same realistic corpus (alert-corpus.ts: a given share of lines a built-in matches)
 *    in JSON batches over HTTP by concurrent clients. Per round: records/s, the server process's
 *    CPU and mariadbd's per 1000 records, and the mean commit time of a batch (the server's own
 *    cmdaudit_ingest_duration_seconds: rule matching before the transaction + the transaction);
 *    the ratio on/off of each round and their median.
 *  - latency: a server with a webhook channel to a receiver in this process; single matching
 *    records, one every `gapMs`, each from its own host (de-duplication is per rule + host + user);
 *    latency = receipt at the webhook − just before the POST. The dispatcher is woken by ingest;
 *    for comparison, its 1 s poll alone: the same Dispatcher in this process, never woken, sending
 *    alerts the store raised (store.raiseAlerts) on the same database.
 *  - the matcher alone over the corpus: normalize(), matchRecord() with every built-in, and
 *    AlertRaiser.sink + drafts per batch (all the JS work commitBatch adds for a batch).
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { type AuditRecord, normalizeRecord, type WireRecord } from "../protocol/index.ts";
import { BUILTIN_RULES } from "../server/src/alerts/builtin-rules.ts";
import { createChannels } from "../server/src/alerts/channels/index.ts";
import { channelListSchema } from "../server/src/alerts/channels/config.ts";
import { DISPATCH_DEFAULTS, Dispatcher } from "../server/src/alerts/dispatch.ts";
import { lineFilter } from "../server/src/alerts/line-filter.ts";
import { normalize } from "../server/src/alerts/normalize.ts";
import { AlertRaiser, draftFor } from "../server/src/alerts/raise.ts";
import { RuleBook } from "../server/src/alerts/rulebook.ts";
import { activeRules, MATCH_CHARS, matchRecord, type Rule } from "../server/src/alerts/rules.ts";
import { openStore } from "../server/src/db/open.ts";
import { silentLogger } from "../server/src/log.ts";
import { Metrics } from "../server/src/metrics.ts";
import { createTestDatabase } from "../test/support/mysql.ts";
import { startServer } from "../test/support/server.ts";
import { AB_HEADER, abIngest, metric } from "./ab-ingest.ts";
import { commandCorpus, matchingCommand } from "./alert-corpus.ts";
import { benchRecord } from "./fixtures.ts";
import { unlimitedIngestConfig } from "./server-config.ts";
import { fmt, percentile, printTable } from "./table.ts";

const TOKEN = "bench-alerts-ingest-token-0123456789";
const READ = "bench-alerts-read-token-0123456789ab";
const SECRET = "bench-alerts-webhook-secret-0123";
const TARGET_RATIO = 0.9;
const TARGET_P95_MS = 2000;
/** Batches each server takes before the first round, not counted: the JIT tiers the matcher up over the first few thousand records. */
const WARM_BATCHES = 5;

export interface AlertsOpts {
  /** Records per round and server. */
  records: number;
  batch: number;
  clients: number;
  rounds: number;
  /** Share of corpus lines a built-in rule matches (0-1). */
  share: number;
  /** Single matching records sent for the latency, and the gap between two. */
  latencyRecords: number;
  gapMs: number;
  /** Alerts sent through the poll alone (0: skip). */
  pollRecords: number;
}

type Sample = { seconds: number; serverCpu: number; dbCpu: number | undefined; commitMs: number };

export async function benchAlerts(opts: AlertsOpts) {
  const total = opts.rounds * opts.records + WARM_BATCHES * opts.batch;
  const corpus = commandCorpus(total, opts.share);
  const wire = (i: number): WireRecord => ({ ...benchRecord(i), command: corpus.commands[i]! });

  const expected = matcherAlone(corpus.commands, wire, opts.batch);
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-bench-alerts-"));
  const dbs: { drop(): Promise<void> }[] = [];
  try {
    const off = await createTestDatabase("bench_alerts_off");
    dbs.push(off);
    const on = await createTestDatabase("bench_alerts_on");
    dbs.push(on);
    const lat = await createTestDatabase("bench_alerts_lat");
    dbs.push(lat);
    const ratio = await throughput(opts, wire, expected.alerts, { off: off.url, on: on.url }, dir);
    const p95 = await latency(opts, lat.url, dir);
    printTable("Matcher alone (this process, no server, CPU time; median of 5 passes): the JS work commitBatch adds before the transaction",
      ["measure", "per record (µs)", `per batch of ${opts.batch} (ms)`], expected.rows);
    const ok = (b: boolean) => (b ? "PASS" : "FAIL");
    console.log(`\nverdict: ingest with the built-in rules on runs at ${fmt(ratio * 100, 1)}% of the rule-free rate (target ≥ ${TARGET_RATIO * 100}%): ${ok(ratio >= TARGET_RATIO)};`
      + ` alert latency ingest → webhook p95 ${fmt(p95)} ms (target ≤ ${TARGET_P95_MS} ms): ${ok(p95 <= TARGET_P95_MS)}`);
    return { ratio, p95 };
  } finally {
    for (const d of dbs) await d.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Median of a few passes, in ms of this process's CPU (user + system: a machine that other work shares slows the wall clock, less this). */
function timed(passes: number, f: () => void): number {
  const t: number[] = [];
  for (let p = 0; p < passes; p++) {
    const t0 = process.cpuUsage();
    f();
    const d = process.cpuUsage(t0);
    t.push((d.user + d.system) / 1000);
  }
  return percentile(t.sort((a, b) => a - b), 50);
}

/** The matcher's cost per record over the corpus, and the alerts the "on" server must raise for it. */
function matcherAlone(commands: string[], wire: (i: number) => WireRecord, batch: number) {
  const rules = activeRules({ rules: [], disabled_builtins: [] });
  const records: AuditRecord[] = commands.map((_, i) => {
    const r = normalizeRecord(wire(i), { legacyUtcOffset: 0 });
    if (typeof r === "string") throw new Error(r);
    return r;
  });
  const input = (r: AuditRecord) => ({ command: r.command, kind: r.kind, flags: r.flags, hostname: r.hostname, luser: r.luser, suser: r.suser });
  let alerts = 0;
  for (const r of records) alerts += matchRecord(rules, input(r)).length;
  // The timing on a sample (the whole corpus is matched once above for the count).
  const sample = records.slice(0, Math.min(records.length, 50_000));
  const n = sample.length;
  let sink = 0;
  const normMs = timed(5, () => { for (const r of sample) sink += normalize(r.command.slice(0, MATCH_CHARS)).length; });
  const matchMs = timed(5, () => { for (const r of sample) sink += matchRecord(rules, input(r)).length; });
  const raiser = new AlertRaiser([], 600e6); // the "on" server's: no channels
  const raiseMs = timed(5, () => {
    for (let i = 0; i + batch <= n; i += batch) {
      const part = sample.slice(i, i + batch);
      sink += raiser.sink(part, rules, Date.now() * 1000)!.drafts(part).length;
    }
  });
  if (sink < 0) console.log(sink); // keeps the loops from being optimised away
  const batches = Math.floor(n / batch);
  const filter = lineFilter(rules);
  const passed = sample.filter((r) => filter(r.command.slice(0, MATCH_CHARS)) !== undefined).length;
  const rows = [
    [`normalize() (${fmt(n)} records)`, fmt((normMs * 1000) / n, 2), fmt((normMs / n) * batch, 2)],
    [`matchRecord(), all ${rules.length} built-ins (the line filter passes ${fmt((passed / n) * 100, 1)}% of lines to normalize())`, fmt((matchMs * 1000) / n, 2), fmt((matchMs / n) * batch, 2)],
    ["AlertRaiser.sink + drafts (commitBatch's path)", fmt((raiseMs * 1000) / (batches * batch), 2), fmt(raiseMs / batches, 2)],
  ];
  return { alerts, rows };
}

async function countRows(url: string, table: string): Promise<number> {
  const c = await mysql.createConnection({ uri: url });
  try {
    const [rows] = await c.query(`SELECT COUNT(*) AS n FROM \`${table}\``);
    return Number((rows as { n: number }[])[0]!.n);
  } finally {
    await c.end();
  }
}

async function throughput(opts: AlertsOpts, wire: (i: number) => WireRecord, expectedAlerts: number, urls: { off: string; on: string }, dir: string): Promise<number> {
  const { records, batch, clients, rounds } = opts;
  const config = (name: string, extra: string) => {
    mkdirSync(join(dir, name));
    const path = unlimitedIngestConfig(join(dir, name));
    appendFileSync(path, extra);
    return path;
  };
  const offConfig = config("off", `alerts:\n  disabled_builtins: [${BUILTIN_RULES.map((b) => JSON.stringify(b.id)).join(", ")}]\n`);
  const onConfig = config("on", "");
  const env = (url: string, cfg: string, data: string) => ({
    CMDAUDIT_DATABASE_URL: url, CMDAUDIT_INGEST_TOKENS: TOKEN, CMDAUDIT_READ_TOKENS: READ, CMDAUDIT_CONFIG: cfg, CMDAUDIT_DATA_DIR: join(dir, data),
  });
  let raised = { off: 0, on: 0 };
  const result = await abIngest({
    base: { label: "rules off (all disabled)", env: env(urls.off, offConfig, "off") },
    feature: { label: "rules on (defaults)", env: env(urls.on, onConfig, "on") },
    records, batch, clients, rounds, warmBatches: WARM_BATCHES, wire, ingestToken: TOKEN, readToken: READ,
  }, async ({ base, feature }) => {
    raised = { off: await metric(base, READ, "cmdaudit_alerts_raised_total"), on: await metric(feature, READ, "cmdaudit_alerts_raised_total") };
  });
  printTable(`Alerts, ingest throughput: ${rounds} rounds × ${fmt(records)} records per server (each round in halves, A B B A), batches of ${batch}, ${clients} concurrent clients`
    + ` (MariaDB on 127.0.0.1); ${fmt(opts.share * 100, 2)}% of lines match a built-in; CPU in ms per 1000 records (mariadbd's: the whole database server's)`,
  AB_HEADER.map((h) => (h === "feature/base" ? "on/off" : h)), result.rows);
  const stored = { off: await countRows(urls.off, "servercmdhist"), on: await countRows(urls.on, "servercmdhist") };
  const alertRows = { off: await countRows(urls.off, "cmdaudit_alerts"), on: await countRows(urls.on, "cmdaudit_alerts") };
  console.log(`alerts raised (cmdaudit_alerts_raised_total): rules on ${fmt(raised.on)} (the matcher expects ${fmt(expectedAlerts)} for the corpus, cmdaudit_alerts holds ${fmt(alertRows.on)}), rules off ${fmt(raised.off)}`);
  const want = rounds * records + WARM_BATCHES * batch;
  if (stored.off !== want || stored.on !== want) throw new Error(`rows stored: off ${stored.off}, on ${stored.on}, expected ${want}`);
  if (raised.on !== expectedAlerts || alertRows.on !== expectedAlerts || raised.off !== 0 || alertRows.off !== 0) {
    throw new Error(`alerts: on raised ${raised.on} (rows ${alertRows.on}), off ${raised.off} (rows ${alertRows.off}); expected ${expectedAlerts} and 0`);
  }
  return result.ratio;
}

/** `2026-12-03T18:26:54.123+08:00` for a time in ms (the hook's format, as benchRecord writes it). */
function ctimeAt(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().replace("Z", "").slice(0, 23) + "+08:00";
}

async function latency(opts: AlertsOpts, url: string, dir: string): Promise<number> {
  const received = new Map<string, number>();
  let messages = 0;
  const receiver = Bun.serve({
    hostname: "127.0.0.1", port: 0,
    async fetch(req) {
      const at = performance.now();
      const m = (await req.json()) as { hostname: string; seq: number | null; kind: string };
      messages++;
      const key = `${new URL(req.url).pathname} ${m.hostname}#${m.seq}`;
      if (m.kind === "alert" && !received.has(key)) received.set(key, at);
      return new Response("ok");
    },
  });
  const hook = `http://127.0.0.1:${receiver.port}`;
  const rows: (string | number)[][] = [];
  const ms = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? [fmt(percentile(s, 50)), fmt(percentile(s, 95)), fmt(s[s.length - 1]!)] : ["n/a", "n/a", "n/a"];
  };
  let p95 = Infinity;
  const waitFor = async (keys: string[], deadlineMs: number) => {
    while (keys.some((k) => !received.has(k)) && performance.now() < deadlineMs) await Bun.sleep(10);
  };
  try {
    mkdirSync(join(dir, "lat"));
    const cfg = unlimitedIngestConfig(join(dir, "lat"));
    appendFileSync(cfg, `alerts:\n  channels:\n    - name: hook\n      type: webhook\n      url: ${hook}/wake\n      secret: ${SECRET}\n      min_severity: warning\n`);
    const server = await startServer({ CMDAUDIT_DATABASE_URL: url, CMDAUDIT_INGEST_TOKENS: TOKEN, CMDAUDIT_READ_TOKENS: READ, CMDAUDIT_CONFIG: cfg, CMDAUDIT_DATA_DIR: join(dir, "lat") });
    const sent = new Map<string, number>();
    const answered: number[] = [];
    try {
      const one = async (i: number, host: string) => {
        const r: WireRecord = {
          ...benchRecord(i), ctime: ctimeAt(Date.now()), hostname: host, serverIps: `10.200.${i >> 8 & 255}.${i & 255}`,
          sessionId: `lat-${i}`, seq: i, command: matchingCommand(i),
        };
        const key = `/wake ${host}#${i}`;
        const body = JSON.stringify([r]);
        const t0 = performance.now();
        sent.set(key, t0);
        const res = await fetch(`${server.url}/api/v1/commands`, { method: "POST", headers: { AccessToken: TOKEN, "Content-Type": "application/json" }, body });
        const j = (await res.json()) as { code: number; accepted: number };
        if (j.code !== 0 || j.accepted !== 1) throw new Error(`ingest failed: ${JSON.stringify(j).slice(0, 200)}`);
        return { key, answeredMs: performance.now() - t0 };
      };
      // Warm-up: one alert end to end, not counted.
      const w = await one(1_000_000, "lat-warm.bench.example.com");
      await waitFor([w.key], performance.now() + 10_000);
      sent.clear();
      const start = performance.now();
      const pending: Promise<{ key: string; answeredMs: number }>[] = [];
      for (let i = 0; i < opts.latencyRecords; i++) {
        const wait = start + i * opts.gapMs - performance.now();
        if (wait > 0) await Bun.sleep(wait);
        pending.push(one(i, `lat-${i.toString().padStart(5, "0")}.bench.example.com`));
      }
      for (const p of await Promise.all(pending)) answered.push(p.answeredMs);
      await waitFor([...sent.keys()], performance.now() + 15_000);
    } finally {
      await server.stop();
    }
    const lat = [...sent].filter(([k]) => received.has(k)).map(([k, t]) => received.get(k)! - t);
    const missing = sent.size - lat.length;
    p95 = missing ? Infinity : percentile([...lat].sort((a, b) => a - b), 95);
    rows.push(["ingest POST answered (the batch committed)", fmt(answered.length), ...ms(answered)]);
    rows.push([`ingest → webhook, the real server (woken by ingest)${missing ? `, ${missing} never arrived` : ""}`, fmt(lat.length), ...ms(lat)]);

    if (opts.pollRecords > 0) rows.push(await pollOnly(opts, url, hook, received));
    printTable(`Alerts, latency: ${fmt(opts.latencyRecords)} single matching records, one every ${opts.gapMs} ms, each from its own host; webhook receiver in this process (ms)`,
      ["path", "alerts", "p50", "p95", "max"], rows);
    console.log(`webhook messages received: ${fmt(messages)} (a line can match two rules: one message per rule); the dispatcher polls every ${DISPATCH_DEFAULTS.pollMs} ms and ingest wakes it at once`);
    return p95;
  } finally {
    await receiver.stop(true);
  }
}

/**
 * The poll alone: the server's Dispatcher in this process on the same database, never woken; the
 * alerts are raised by the store as ingest's transaction writes them (writeAlerts), at `gapMs` apart.
 */
async function pollOnly(opts: AlertsOpts, url: string, hook: string, received: Map<string, number>): Promise<(string | number)[]> {
  const store = await openStore(url, { dataDir: "/tmp", legacyUtcOffset: 0 });
  const windowUs = 600e6;
  const channels = createChannels(channelListSchema.parse([{ name: "hook", type: "webhook", url: `${hook}/poll`, secret: SECRET, min_severity: "warning" }]));
  const rules = new RuleBook({ rules: [], disabled_builtins: [] }, store, silentLogger);
  const dispatcher = new Dispatcher(store, channels, rules, new Metrics(), silentLogger, { ...DISPATCH_DEFAULTS, windowUs, silentAfterSeconds: 3600 });
  const rule: Rule = (await rules.current()).find((r) => r.id === "exec.download-to-shell")!;
  const sent = new Map<string, number>();
  try {
    dispatcher.start();
    await Bun.sleep(200);
    const start = performance.now();
    for (let i = 0; i < opts.pollRecords; i++) {
      const wait = start + i * opts.gapMs - performance.now();
      if (wait > 0) await Bun.sleep(wait);
      const host = `poll-${i.toString().padStart(5, "0")}.bench.example.com`;
      const nowUs = Date.now() * 1000;
      const draft = draftFor(rule, { hostname: host, luser: "u1", suser: "u1", oci: `poll-${process.pid}-${i}`, tsUs: nowUs, sessionId: `poll-${i}`, seq: i, command: matchingCommand(6) }, dispatcher.routes());
      const key = `/poll ${host}#${i}`;
      sent.set(key, performance.now());
      await store.raiseAlerts([draft], nowUs, windowUs);
    }
    const deadline = performance.now() + 10_000;
    while ([...sent.keys()].some((k) => !received.has(k)) && performance.now() < deadline) await Bun.sleep(10);
  } finally {
    await dispatcher.stop();
    await store.close();
  }
  const lat = [...sent].filter(([k]) => received.has(k)).map(([k, t]) => received.get(k)! - t).sort((a, b) => a - b);
  const missing = sent.size - lat.length;
  const p = (q: number) => (lat.length ? fmt(percentile(lat, q)) : "n/a");
  return [`raised → webhook, the ${DISPATCH_DEFAULTS.pollMs} ms poll alone (in-process Dispatcher, never woken)${missing ? `, ${missing} never arrived` : ""}`,
    fmt(lat.length), p(50), p(95), lat.length ? fmt(lat[lat.length - 1]!) : "n/a"];
}
