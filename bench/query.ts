/**
 * Query latency over the HTTP API on a large MariaDB table (default 10 million rows).
 * The rows are generated inside MariaDB (SEQUENCE engine) into a cached database,
 * `cmdaudit_bench_query`, reused by later runs when it already holds the same count.
 */
import mysql from "mysql2/promise";
import { openStore } from "../server/src/db/open.ts";
import { MYSQL_URL } from "../test/support/mysql.ts";
import { startServer } from "../test/support/server.ts";
import { fmt, percentile, printTable } from "./table.ts";

const DB = "cmdaudit_bench_query";
const READ = "bench-read-token-0123456789ab";
const BASE_US = Date.UTC(2026, 8, 1) * 1000;
const SPAN_US = 30 * 86_400 * 1e6; // 30 days
// Dropped while loading and built afterwards by sorting: inserting 10M random md5 keys into a live
// B-tree with the default 128 MiB buffer pool takes hours.
const SECONDARY = ["oci", "hostname_ts", "luser_ts", "suser_ts", "clientip_ts", "session_seq", "ts"];
const COMMANDS = ["ls -la /var/log", "systemctl status nginx", "tail -n 200 /var/log/messages", "cd /data/app && git pull",
  "docker ps", "vim /etc/nginx/nginx.conf", "kubectl -n prod get pods", "df -h", "find / -name core", "mysql -e 'show processlist'"];

export async function load(rows: number, url: string): Promise<void> {
  const c = await mysql.createConnection({ uri: url, multipleStatements: false });
  try {
    const [have] = await c.query("SELECT COUNT(*) AS n FROM servercmdhist");
    if ((have as { n: number }[])[0]!.n === rows) return;
    console.error(`bench: loading ${fmt(rows)} rows into ${DB} (once; cached for later runs)…`);
    await c.query("TRUNCATE servercmdhist");
    const [idx] = await c.query("SHOW INDEX FROM servercmdhist");
    const present = new Set((idx as { Key_name: string }[]).map((i) => i.Key_name));
    await c.query("TRUNCATE cmdaudit_hosts");
    const drop = SECONDARY.filter((i) => present.has(i));
    if (drop.length) await c.query(`ALTER TABLE servercmdhist ${drop.map((i) => `DROP INDEX \`${i}\``).join(", ")}`);
    await c.query("SET time_zone = '+00:00'");
    const step = SPAN_US / rows;
    const elt = COMMANDS.map((s) => c.escape(s)).join(", ");
    for (let from = 1; from <= rows; from += 1_000_000) {
      const to = Math.min(rows, from + 999_999);
      const t0 = performance.now();
      await c.query(`INSERT INTO servercmdhist (oci, hostname, serverIps, ctime, luser, suser, terminal, clientIp, command, kind, ts_us, utc_offset, session_id, seq, cwd, exit_status, received_us)
        SELECT MD5(seq), CONCAT('web-', LPAD(seq % 1000, 4, '0'), '.prod.example.com'), CONCAT('10.0.', (seq % 1000) DIV 256, '.', seq % 256),
          DATE_FORMAT(FROM_UNIXTIME(FLOOR((${BASE_US} + seq * ${step}) / 1000000)), '%Y-%m-%d %H:%i:%s'),
          CONCAT('u', (seq DIV 7) % 200), IF(seq % 5 = 0, 'root', CONCAT('u', (seq DIV 7) % 200)), CONCAT('pts/', seq % 12),
          CONCAT('192.168.', (seq DIV 7) % 200 DIV 16, '.', (seq DIV 7) % 16 + 10), CONCAT(ELT(1 + seq % 10, ${elt}), ' #', seq), 'command',
          FLOOR(${BASE_US} + seq * ${step}), 0, CONCAT('s', seq DIV 50), seq % 50, '/root', IF(seq % 13 = 0, 1, 0), FLOOR(${BASE_US} + seq * ${step})
        FROM seq_${from}_to_${to}`);
      console.error(`bench:   rows ${fmt(to)} (${fmt((performance.now() - t0) / 1000, 1)} s)`);
    }
    console.error("bench: building indexes…");
    await c.query(`ALTER TABLE servercmdhist ADD UNIQUE INDEX oci (oci), ${["hostname_ts (hostname, ts_us)", "luser_ts (luser, ts_us)", "suser_ts (suser, ts_us)",
      "clientip_ts (clientIp, ts_us)", "session_seq (session_id, seq)", "ts (ts_us)"].map((i) => `ADD INDEX ${i}`).join(", ")}`);
    await c.query("ANALYZE TABLE servercmdhist");
  } finally {
    await c.end();
  }
}

/** The cached bench database with `rows` rows, migrated to this version; its URL. */
export async function benchDatabase(rows: number): Promise<string> {
  const admin = await mysql.createConnection({ uri: MYSQL_URL });
  await admin.query(`CREATE DATABASE IF NOT EXISTS \`${DB}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  await admin.end();
  const u = new URL(MYSQL_URL);
  u.pathname = `/${DB}`;
  const url = u.toString();
  await (await openStore(url, { dataDir: "/tmp", legacyUtcOffset: 0 })).close(); // migrations
  await load(rows, url);
  return url;
}

export async function benchQuery(opts: { rows: number; samples: number }) {
  const url = await benchDatabase(opts.rows);

  const server = await startServer({ CMDAUDIT_DATABASE_URL: url, CMDAUDIT_INGEST_TOKENS: "bench-ingest-token-0123456789", CMDAUDIT_READ_TOKENS: READ, CMDAUDIT_LOG_LEVEL: "info" });
  let seed = 42;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  const day = () => {
    const from = BASE_US + rnd(29) * 86_400e6;
    return `from=${encodeURIComponent(new Date(from / 1000).toISOString())}&to=${encodeURIComponent(new Date(from / 1000 + 86_400_000).toISOString())}`;
  };
  const kinds: [string, () => string, number][] = [
    ["host + 1-day range", () => `host=web-${String(rnd(1000)).padStart(4, "0")}.prod.example.com&${day()}`, opts.samples],
    ["login user + 1-day range", () => `luser=u${rnd(200)}&${day()}`, opts.samples],
    ["command text, common term", () => `q=${encodeURIComponent(COMMANDS[rnd(10)]!.split(" ")[0]!)}`, opts.samples],
    ["command text + host, rare term", () => `q=${encodeURIComponent(`#${rnd(opts.rows)}`)}&host=web-${String(rnd(1000)).padStart(4, "0")}.prod.example.com`, Math.max(5, opts.samples / 20)],
  ];
  const rows: (string | number)[][] = [];
  try {
    for (const [name, make, n] of kinds) {
      const times: number[] = [];
      let returned = 0;
      for (let i = 0; i < n + 3; i++) {
        const t0 = performance.now();
        const res = await fetch(`${server.url}/api/v1/commands?${make()}&limit=100`, { headers: { Authorization: `Bearer ${READ}` } });
        const body = (await res.json()) as { items: unknown[] };
        if (res.status !== 200) throw new Error(`query failed: ${res.status}`);
        if (i >= 3) { times.push(performance.now() - t0); returned += body.items.length; } // 3 warm-up queries
      }
      times.sort((a, b) => a - b);
      rows.push([name, n, fmt(returned / n, 0), fmt(percentile(times, 50), 1), fmt(percentile(times, 95), 1), fmt(times[times.length - 1]!, 1)]);
    }
  } finally {
    await server.stop();
  }
  printTable(`Query over HTTP: ${fmt(opts.rows)} rows in MariaDB, limit=100, newest first`, ["query", "samples", "rows/answer", "p50 ms", "p95 ms", "max ms"], rows);
}
