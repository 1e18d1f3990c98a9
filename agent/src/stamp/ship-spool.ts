/**
 * Ship the stamping daemon's spool (docs/transport.md): each file's records through the JSON route
 * with their attestation, what the daemon left out and what did not decode as loss records, and a
 * file the daemon closed is deleted once all of it is sent. Each run reads a file from where the last
 * one stopped (a shell's connection stays open for its whole session: its file is read once, not
 * again every minute). Progress is in the state, saved after each body, so a crash resends at most
 * one body (the server stores each record once). With redaction on, each record's command leaves
 * redacted, its markers declared in the record's `redactions` (redaction.ts).
 */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import type { Redactor } from "../../../protocol/redact/index.ts";
import { spoolDir } from "../config.ts";
import { redactWireRecord } from "../redaction.ts";
import type { Config } from "../run.ts";
import type { Shipper } from "../ship.ts";
import type { State } from "../state.ts";
import { readSpool, uidNames } from "./spool-records.ts";

/** Records per JSON body: far below the server's 10,000 per request. */
const RECORDS_PER_BODY = 1000;

export interface SpoolCtx {
  save: () => void;
  /** Count a loss now; it is sent as the reporter's own loss record. */
  loss: (text: string) => void;
  legacyUtcOffset: number;
  /** Replaces the secrets of each record's command before it is sent, declaring them (`redactions`); null: as read. */
  redactor?: Redactor | null;
}

export async function shipSpool(cfg: Config, state: State, shipper: Shipper, ctx: SpoolCtx, nameOf = uidNames()): Promise<void> {
  const dir = spoolDir(cfg);
  if (!existsSync(dir)) return;
  const names = readdirSync(dir).filter((f) => f.endsWith(".spool")).sort();
  // Files gone (deleted by an earlier run after a crash, or by hand): their progress goes too.
  for (const name of Object.keys(state.spool)) if (!names.includes(name)) delete state.spool[name];
  for (const name of names) {
    const path = join(dir, name);
    const done = (state.spool[name] ??= { offset: 0, records: 0, losses: 0, damaged: 0 });
    const resume = done.offset > 0 && done.stamp ? { from: done.offset, stamp: done.stamp } : undefined;
    if (!resume) done.offset = 0;
    const content = readSpool(readFrom(path, done.offset), nameOf, ctx.legacyUtcOffset, resume);
    for (let i = done.records; i < content.records.length; i += RECORDS_PER_BODY) {
      const part = content.records.slice(i, i + RECORDS_PER_BODY).map((r) => redactWireRecord(r, ctx.redactor ?? null));
      const answer = await shipper.postRecords(part);
      for (const r of answer.rejected) ctx.loss(`a record of ${name} was rejected by the server: ${r.error}`);
      done.records = i + part.length;
      ctx.save();
    }
    for (const reason of content.damaged.slice(done.damaged)) ctx.loss(`a line of ${name} is not a record: ${reason}`);
    for (const text of content.losses.slice(done.losses)) ctx.loss(text);
    done.damaged = content.damaged.length;
    done.losses = content.losses.length;
    if (content.closed) {
      unlinkSync(path);
      delete state.spool[name];
    } else if (content.next > done.offset) {
      state.spool[name] = { offset: content.next, stamp: content.stamp, records: 0, losses: 0, damaged: 0 };
    }
    ctx.save();
  }
}

/** The bytes of `path` from `offset` to its end now. */
function readFrom(path: string, offset: number): Buffer {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(Math.max(0, fstatSync(fd).size - offset));
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}
