/**
 * Redaction in the reporter ([redact] issue): the compiled reporter's own step, redactBody()
 * (agent/src/tail/redact-body.ts), over a backlog of hook log lines, cut into bodies as `run` cuts
 * them (batch.bytes 1 MiB, batch.max_lines 5000), each written over the one before as `run` does. Each round is a fresh process, as every cron run
 * is, so the engine's warm-up is in the figures: the first body alone, the whole backlog, and its
 * second half. For scale, the same process gzips every body (level 1, what the reporter does to
 * each body it posts). MB are log bytes (1 MB = 10^6); the log holds the realistic corpus (the alert
 * bench's everyday commands, 1 % with a secret), every command made unique so that the redactor's
 * memory of clean commands does not help.
 * Run alone with `bun bench/redact-reporter.ts`; a round alone: `bun bench/redact-reporter.ts --child LOG`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { redactBody, WireBuffer } from "../agent/src/tail/redact-body.ts";
import { createRedactor } from "../protocol/redact/index.ts";
import { parseRawRedactions } from "../protocol/redact/raw-header.ts";
import { benchRecord, encodeBenchRecord } from "./fixtures.ts";
import { fmt, median, printTable } from "./table.ts";

export interface ReporterRedactOptions {
  /** Backlog size in MB of log. */
  mb: number;
  rounds: number;
  /** The commands, one per record (cycled). */
  commands: readonly string[];
}

const KEY = "bench-redact-fingerprint-key-0123456789";
const BODY_BYTES = 1 << 20;
const BODY_LINES = 5000;
export const REPORTER_TARGET_MBS = 100;

interface ChildResult {
  bodies: number;
  bytes: number;
  redacted: number;
  /** Seconds per body, in order. */
  redact: number[];
  gzip: number[];
}

/** Bodies as `run` cuts them: at most BODY_BYTES, ending at a line end, at most BODY_LINES lines. */
function bodiesOf(log: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < log.length;) {
    let end = log.lastIndexOf(0x0a, Math.min(log.length, at + BODY_BYTES) - 1) + 1;
    let lines = 0;
    for (let i = log.indexOf(0x0a, at); i >= 0 && i < end; i = log.indexOf(0x0a, i + 1)) {
      if (++lines === BODY_LINES) { end = i + 1; break; }
    }
    out.push(log.subarray(at, end));
    at = end;
  }
  return out;
}

/** One round, in this process (started fresh by the parent). */
function child(logPath: string): ChildResult {
  const log = new Uint8Array(readFileSync(logPath));
  const redactor = createRedactor({ key: KEY });
  const bodies = bodiesOf(log);
  const into = new WireBuffer();
  const r: ChildResult = { bodies: bodies.length, bytes: log.length, redacted: 0, redact: [], gzip: [] };
  for (const body of bodies) {
    const t0 = performance.now();
    const wire = redactBody(body, redactor, { final: false, giveUp: false, legacyUtcOffset: 0, into });
    const t1 = performance.now();
    gzipSync(wire.bytes, { level: 1 });
    const t2 = performance.now();
    r.redact.push((t1 - t0) / 1000);
    r.gzip.push((t2 - t1) / 1000);
    const declared = wire.header === undefined ? [] : parseRawRedactions(wire.header);
    if (typeof declared === "string") throw new Error(declared);
    r.redacted += declared.length;
  }
  return r;
}

/** The backlog: hook lines (CA2) of the bench fleet's records with `commands`, `mb` MB of them. */
function writeLog(path: string, mb: number, commands: readonly string[]): { bytes: number; lines: number } {
  const parts: Uint8Array[] = [];
  let bytes = 0;
  for (let i = 0; bytes < mb * 1e6; i++) {
    const line = encodeBenchRecord({ ...benchRecord(i), durationMs: 40 + (i % 900), command: `${commands[i % commands.length]!} #${i}` });
    parts.push(line);
    bytes += line.length;
  }
  writeFileSync(path, Buffer.concat(parts));
  return { bytes, lines: parts.length };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

export async function benchRedactReporter(o: ReporterRedactOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-bench-redact-reporter-"));
  try {
    const logPath = join(dir, "cmdaudit.log");
    const { bytes, lines } = writeLog(logPath, o.mb, o.commands);
    const rounds: ChildResult[] = [];
    for (let k = 0; k < o.rounds; k++) {
      const p = Bun.spawnSync([process.execPath, import.meta.path, "--child", logPath], { stderr: "inherit" });
      if (p.exitCode !== 0) throw new Error(`bench round ${k + 1} exited ${p.exitCode}`);
      rounds.push(JSON.parse(p.stdout.toString()) as ChildResult);
    }
    const bodies = bodiesOf(new Uint8Array(readFileSync(logPath)));
    const half = bodies.length >> 1;
    const firstMb = bodies[0]!.length / 1e6;
    const wholeMb = bytes / 1e6;
    const lastMb = sum(bodies.slice(half).map((b) => b.length)) / 1e6;
    const rate = (pick: (r: ChildResult) => number[], mb: number, from: number, to: number) => median(rounds.map((r) => mb / sum(pick(r).slice(from, to))));
    const steps: [string, (r: ChildResult) => number[]][] = [["redactBody()", (r) => r.redact], ["gzip level 1 (for scale)", (r) => r.gzip]];
    printTable(
      `Redaction in the reporter: a backlog of ${fmt(wholeMb, 1)} MB of hook lines (${fmt(lines)} records, 1 % with a secret, every command unique) in ${bodies.length} bodies`
        + ` (≤ 1 MiB, ≤ ${BODY_LINES} lines); each of ${o.rounds} rounds a fresh process; MB/s of log, median of the rounds`,
      ["step", "first body", "whole backlog", "second half"],
      steps.map(([name, pick]) => [name, fmt(rate(pick, firstMb, 0, 1), 0), fmt(rate(pick, wholeMb, 0, bodies.length), 0), fmt(rate(pick, lastMb, half, bodies.length), 0)]),
    );
    const whole = rate((r) => r.redact, wholeMb, 0, bodies.length);
    console.log(`records redacted per round: ${rounds.map((r) => fmt(r.redacted)).join(", ")}`);
    console.log(`verdict: the reporter redacts a backlog at ${fmt(whole, 0)} MB/s of log, warm-up included (target ≥ ${REPORTER_TARGET_MBS} MB/s): ${whole >= REPORTER_TARGET_MBS ? "PASS" : "FAIL"}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const at = process.argv.indexOf("--child");
  if (at >= 0) {
    console.log(JSON.stringify(child(process.argv[at + 1]!)));
  } else {
    const { commandCorpus } = await import("./alert-corpus.ts");
    const { withSecrets } = await import("./redact.ts");
    const commands = withSecrets(commandCorpus(100_000, 0, 20261205).commands, 0.01, 20261205);
    await benchRedactReporter({ mb: Number(process.env.BENCH_REDACT_REPORTER_MB ?? 64), rounds: Number(process.env.BENCH_REDACT_ROUNDS ?? 5), commands });
  }
}
