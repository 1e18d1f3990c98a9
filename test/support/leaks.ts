/**
 * What a test file leaves behind: runs each given file with `bun test` on a private /tmp (a mount
 * namespace with a fresh directory bound over /tmp) and, after it exits, prints
 *   - the entries left in that /tmp (the whole tree, append-only files flagged),
 *   - the processes still alive in its mount namespace (whatever session or group they moved to),
 *   - the MariaDB databases named after its pid (test/support/mysql.ts names them so).
 * Then it kills those processes, removes the directory and drops nothing else.
 *
 *   bun test/support/leaks.ts [--timeout SECONDS] file.test.ts...
 *
 * Needs root (mount namespaces). Exit status 1 when a file left something behind.
 */
import { chmodSync, mkdtempSync, readdirSync, readlinkSync, readFileSync, rmSync, lstatSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import mysql from "mysql2/promise";
import { MYSQL_URL } from "./mysql.ts";

const { values, positionals: files } = parseArgs({ allowPositionals: true, options: { timeout: { type: "string", default: "900" } } });
if (!files.length) {
  console.error("usage: bun test/support/leaks.ts [--timeout SECONDS] file.test.ts...");
  process.exit(2);
}
const timeoutSec = Number(values.timeout);

/** Pids whose mount namespace is `ns`. */
function pidsInNamespace(ns: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try { if (readlinkSync(`/proc/${e}/ns/mnt`) === ns) out.push(Number(e)); } catch { /* gone */ }
  }
  return out;
}

function describeProcess(pid: number): string {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").filter(Boolean).join(" ");
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const [ppid, pgid, sid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ").slice(1, 4);
    return `pid ${pid} (ppid ${ppid}, pgid ${pgid}, sid ${sid}): ${args.slice(0, 200)}`;
  } catch {
    return `pid ${pid} (gone)`;
  }
}

/** Every path under dir, directories with a trailing slash. */
function tree(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    const isDir = lstatSync(p).isDirectory();
    out.push(relative(base, p) + (isDir ? "/" : ""));
    if (isDir) out.push(...tree(p, base));
  }
  return out;
}

async function databasesOf(pid: number): Promise<string[]> {
  try {
    const c = await mysql.createConnection({ uri: MYSQL_URL });
    try {
      const [rows] = await c.query("SHOW DATABASES");
      return (rows as { Database: string }[]).map((r) => r.Database).filter((d) => new RegExp(`^cmdaudit_.*_${pid}_`).test(d));
    } finally { await c.end(); }
  } catch (e) {
    return [`(MariaDB not reachable: ${(e as Error).message})`];
  }
}

let dirty = 0;
for (const file of files) {
  const priv = mkdtempSync("/tmp/cmdaudit-leaks-");
  chmodSync(priv, 0o1777); // what it stands in for: /tmp, writable by the other users the hook tests switch to
  const nsFile = `${priv}.ns`;
  const started = Date.now();
  // The inner shell writes its namespace, binds the fresh dir over /tmp and becomes `bun test` (same pid, new session).
  const proc = Bun.spawn(["unshare", "-m", "--propagation", "private", "sh", "-c",
    'readlink /proc/$$/ns/mnt > "$1" && mount --bind "$2" /tmp && exec setsid bun test --timeout 60000 "$3"', "sh", nsFile, priv, file], {
    stdout: "pipe", stderr: "pipe", stdin: "ignore", env: { ...process.env, TMPDIR: "/tmp" },
  });
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; proc.kill("SIGKILL"); }, timeoutSec * 1000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  clearTimeout(timer);
  const summary = (out + err).split("\n").filter((l) => /^ \d+ (pass|fail)$|^Ran /.test(l)).join(", ").trim();
  await Bun.sleep(1000); // let processes that were told to stop finish stopping

  let ns = "";
  try { ns = readFileSync(nsFile, "utf8").trim(); } catch { /* unshare failed */ }
  rmSync(nsFile, { force: true });
  const leftProcs = ns ? pidsInNamespace(ns) : [];
  const leftFiles = tree(priv);
  const appendOnly = leftFiles.length ? Bun.spawnSync(["lsattr", "-R", "-d", priv]).stdout.toString() : "";
  const dbs = await databasesOf(proc.pid);

  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`\n== ${file}: exit ${code}${timedOut ? " (timed out)" : ""}, ${secs} s${summary ? `, ${summary}` : ""}${ns ? "" : ", NO NAMESPACE (unshare failed)"}`);
  if (!ns) console.log(err.slice(0, 500));
  for (const l of new Set((out + err).split("\n").filter((x) => x.startsWith("(fail)")))) console.log(`   ${l}`);
  if (!leftFiles.length && !leftProcs.length && !dbs.length) console.log("   nothing left behind");
  if (leftFiles.length) {
    const top = new Set(leftFiles.map((f) => f.split("/")[0] + (f.includes("/") ? "/" : "")));
    console.log(`   /tmp: ${leftFiles.length} entries under ${top.size} top-level names:`);
    for (const t of [...top].slice(0, 40)) console.log(`     /tmp/${t}  (${leftFiles.filter((f) => f.startsWith(t)).length} entries)`);
    const sealed = appendOnly.split("\n").filter((l) => /^\S*a\S* /.test(l)).length;
    if (sealed) console.log(`     ${sealed} append-only entries`);
  }
  for (const pid of leftProcs) console.log(`   process: ${describeProcess(pid)}`);
  for (const d of dbs) console.log(`   database: ${d}`);
  if (leftFiles.length || leftProcs.length || dbs.length) dirty++;

  // Clean up after the file: its processes (found by namespace) and its /tmp.
  for (const pid of leftProcs) try { process.kill(pid, "SIGKILL"); } catch { /* already gone */ }
  Bun.spawnSync(["chattr", "-R", "-a", "-i", priv], { stdout: "ignore", stderr: "ignore" });
  rmSync(priv, { recursive: true, force: true });
}
console.log(`\n${files.length} files, ${dirty} left something behind`);
process.exit(dirty ? 1 : 0);
