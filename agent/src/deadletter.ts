/**
 * Lines the server rejected, or that can never be sent, kept with the reason and
 * the raw bytes in `<state_dir>/deadletter.ndjson` (mode 0600): never dropped.
 */
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { LogDecoder, lines, type DecodeEvent } from "../../protocol/index.ts";
import type { RawAnswer } from "./ship.ts";

export interface DeadLetter {
  time: string;
  file: string;
  /** Byte offset in `file` of the first line. */
  offset: number;
  reason: string;
  /** The raw bytes as text when they are UTF-8 … */
  raw?: string;
  /** … base64 otherwise. */
  rawB64?: string;
}

export function deadLetterFile(stateDir: string): string {
  return join(stateDir, "deadletter.ndjson");
}

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function writeDeadLetters(stateDir: string, letters: { file: string; offset: number; reason: string; raw: Uint8Array }[]): void {
  if (!letters.length) return;
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const time = new Date().toISOString();
  const out = letters.map(({ file, offset, reason, raw }) => {
    const d: DeadLetter = { time, file, offset, reason };
    try {
      d.raw = strict.decode(raw);
    } catch {
      d.rawB64 = Buffer.from(raw).toString("base64");
    }
    return JSON.stringify(d) + "\n";
  });
  appendFileSync(deadLetterFile(stateDir), out.join(""), { mode: 0o600 });
}

export function countDeadLetters(stateDir: string): number {
  try {
    const text = readFileSync(deadLetterFile(stateDir), "utf8");
    return text.split("\n").filter(Boolean).length;
  } catch {
    return 0;
  }
}

/**
 * The raw bytes behind the server's `rejected[].line` numbers: the body is decoded
 * again here with the same codec, so each line number maps to the record or
 * damaged lines the server saw there.
 */
export function rejectedRaw(body: Uint8Array, answer: RawAnswer, final: boolean, legacyUtcOffset: number, giveUp = false): { offset: number; reason: string; raw: Uint8Array }[] {
  if (!answer.rejected.length) return [];
  const lineStart: number[] = [];
  const events = new Map<number, DecodeEvent>();
  // The server's default bounds (MAX_PENDING_LINES, MAX_PENDING_GAP): a record it gave up is given up here too.
  const decoder = new LogDecoder({ legacyUtcOffset });
  const keep = (e: DecodeEvent) => { if (!events.has(e.offset)) events.set(e.offset, e); };
  for (const { line, offset } of lines(body)) {
    lineStart.push(offset);
    decoder.push(line, offset).forEach(keep);
  }
  if (giveUp) decoder.giveUp(1).forEach(keep);
  if (final) decoder.finish().forEach(keep);
  return answer.rejected.map((r) => {
    const offset = r.line !== undefined ? lineStart[r.line - 1] ?? 0 : 0;
    const ev = events.get(offset);
    let raw: Uint8Array;
    if (ev?.type === "damaged" || ev?.type === "foreign") raw = ev.raw;
    else if (ev?.type === "record") raw = body.subarray(ev.offset, ev.end);
    else {
      const nl = body.indexOf(0x0a, offset);
      raw = body.subarray(offset, nl < 0 ? body.length : nl + 1);
    }
    return { offset, reason: r.error, raw };
  });
}
