import { statSync } from "node:fs";
import type { ReporterConfig } from "./config.ts";
import { countDeadLetters, deadLetterFile } from "./deadletter.ts";
import { describeRedaction } from "./redaction.ts";
import { EXIT } from "./run.ts";
import { loadState } from "./state.ts";

/** What is waiting, what went wrong last, what was dropped: read-only, safe while a run is going. */
export function status(cfg: ReporterConfig, json: boolean): number {
  const state = loadState(cfg.state_dir);
  const files = state.files.map((f) => {
    let size = f.size;
    try {
      const st = statSync(f.path);
      if (st.ino === f.ino && st.dev === f.dev) size = st.size;
    } catch { /* gone: the next run counts what it had as lost */ }
    return { path: f.path, role: f.role, offset: f.offset, size, backlog: Math.max(0, size - f.offset), waitingSince: f.waiting ? new Date(f.waiting.since).toISOString() : null };
  });
  const redaction = describeRedaction(cfg);
  const report = {
    reporterId: state.reporterId,
    backlogBytes: files.reduce((n, f) => n + f.backlog, 0),
    files,
    lastRun: state.lastRun,
    lastSuccess: state.lastSuccess,
    lastError: state.lastError,
    stuck: state.stuck ?? null,
    deadLetters: countDeadLetters(cfg.state_dir),
    deadLetterFile: deadLetterFile(cfg.state_dir),
    dropped: { records: state.counters.droppedRecords, bytes: state.counters.droppedBytes },
    pendingLossReports: state.pendingLoss.length,
    sent: { bytes: state.counters.sentBytes, accepted: state.counters.accepted, duplicates: state.counters.duplicates },
    redaction: { on: redaction.on, keyFile: redaction.keyFile, problem: redaction.problem },
  };
  if (json) {
    process.stdout.write(JSON.stringify(report, null, 2) + "\n");
    return EXIT.ok;
  }
  const lines = [
    `backlog:       ${report.backlogBytes} bytes in ${files.length} file(s)`,
    ...files.map((f) => `  ${f.role.padEnd(7)} ${f.path}  ${f.offset}/${f.size}${f.waitingSince ? `  (an unfinished record at ${f.offset}, waiting since ${f.waitingSince})` : ""}`),
    `last run:      ${report.lastRun ?? "never"}`,
    `last success:  ${report.lastSuccess ?? "never"}`,
    `last error:    ${report.lastError ?? "none"}`,
    ...(report.stuck ? [`stuck:         ${report.stuck.replace(/^stuck: /, "")}`] : []),
    `dead letters:  ${report.deadLetters}${report.deadLetters ? ` (${report.deadLetterFile})` : ""}`,
    `dropped:       ${report.dropped.records} record(s), ${report.dropped.bytes} bytes`,
    `loss reports waiting: ${report.pendingLossReports}`,
    `sent:          ${report.sent.bytes} bytes, ${report.sent.accepted} stored, ${report.sent.duplicates} duplicate(s)`,
    `redaction:     ${redaction.text}`,
  ];
  process.stdout.write(lines.join("\n") + "\n");
  return EXIT.ok;
}
