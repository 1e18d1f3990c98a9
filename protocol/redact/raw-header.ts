/**
 * `X-Cmdaudit-Redactions`: which markers of a POST /api/v1/ingest/raw body are redactions its
 * reporter made (a JSON record says so in its `redactions`; log lines have no field for it). The
 * compiled reporter writes it, the server's raw route reads it; this file is the one definition.
 *
 *     X-Cmdaudit-Redactions: 0:mysql-password@9-44;812:env-secret@7-36,github-token@50-97
 *
 * One entry per record, `;` between entries: the body offset of the record's first line (bytes of
 * the body after gzip decoding), `:`, then its redactions, `,` between them: the rule, `@`, and the
 * marker's byte range `start-end` in the record's command (as in a record's `redactions`). Offsets
 * strictly increase; a record's ranges are in order and do not overlap; numbers are canonical
 * decimals; at most MAX_RAW_REDACTIONS_HEADER_BYTES in all (a proxy's default header line is 8 KiB).
 * The receiver checks each range against the command it decodes there: a marker of that rule.
 */
import { z } from "zod";
import { MAX_COMMAND_BYTES } from "../limits.ts";
import { MAX_REDACTIONS } from "./declared.ts";
import { RULE_ID } from "./marker.ts";
import type { Redaction } from "./redact.ts";

export const RAW_REDACTIONS_HEADER = "X-Cmdaudit-Redactions";
/** Longest header value: what a reporter puts in one request, and what a server takes. */
export const MAX_RAW_REDACTIONS_HEADER_BYTES = 8000;

/** The redactions of the record whose first line starts at `offset` in the body. */
export interface RawRedactions {
  offset: number;
  redactions: Redaction[];
}

/** One entry's text (no separator). */
export function rawRedactionsEntry(e: RawRedactions): string {
  return `${e.offset}:${e.redactions.map((r) => `${r.rule}@${r.start}-${r.end}`).join(",")}`;
}

export const RAW_REDACTIONS_SEPARATOR = ";";

/** The header value for entries in body order (each with at least one redaction). */
export function encodeRawRedactions(entries: readonly RawRedactions[]): string {
  return entries.map(rawRedactionsEntry).join(RAW_REDACTIONS_SEPARATOR);
}

const NUMBER = "(0|[1-9][0-9]{0,15})";
const ENTRY = new RegExp(`^${NUMBER}:(.*)$`, "s");
const RANGE = new RegExp(`^([^@]*)@${NUMBER}-${NUMBER}$`);
const show = (s: string) => JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);

/** The entries a header value holds, or what is wrong with it (a sentence naming the entry). */
export function parseRawRedactions(value: string): RawRedactions[] | string {
  if (value.length > MAX_RAW_REDACTIONS_HEADER_BYTES) return `longer than ${MAX_RAW_REDACTIONS_HEADER_BYTES} bytes`;
  if (value.trim() === "") return "empty (leave the header out when no record was redacted)";
  const out: RawRedactions[] = [];
  let after = -1;
  for (const [i, text] of value.split(RAW_REDACTIONS_SEPARATOR).entries()) {
    const where = `entry ${i + 1} (${show(text)})`;
    const m = ENTRY.exec(text.trim());
    if (!m) return `${where} is not <body offset>:<rule>@<start>-<end>[,…]`;
    const offset = Number(m[1]);
    if (!Number.isSafeInteger(offset)) return `${where}: the body offset is too large`;
    if (offset <= after) return `${where}: body offsets must increase from entry to entry`;
    after = offset;
    const redactions: Redaction[] = [];
    let end = 0;
    const ranges = m[2]!.split(",");
    if (ranges.length > MAX_REDACTIONS) return `${where}: more than ${MAX_REDACTIONS} redactions for one record`;
    for (const [j, range] of ranges.entries()) {
      const r = RANGE.exec(range);
      if (!r) return `${where}: redaction ${j + 1} (${show(range)}) is not <rule>@<start>-<end>`;
      const rule = r[1]!;
      if (!RULE_ID.test(rule)) return `${where}: redaction ${j + 1}: ${show(rule)} is not a rule id`;
      const start = Number(r[2]);
      const stop = Number(r[3]);
      if (stop > MAX_COMMAND_BYTES) return `${where}: redaction ${j + 1} ends past ${MAX_COMMAND_BYTES} bytes`;
      if (start >= stop) return `${where}: redaction ${j + 1}: start ${start} is not before end ${stop}`;
      if (start < end) return `${where}: redaction ${j + 1} is not after the one before it`;
      end = stop;
      redactions.push({ rule, start, end: stop });
    }
    out.push({ offset, redactions });
  }
  return out;
}

/** The header as the API documents it (the server parses it with parseRawRedactions, to name what is wrong). */
export const rawRedactionsHeaderSchema = z.string().meta({
  description: "The markers of the body that are redactions its reporter made, per record: `<body offset of the record's first line>:<rule>@<start>-<end>[,…]`, "
    + "records separated by `;`, offsets increasing, byte ranges of the record's command (as in a record's `redactions`), "
    + `at most ${MAX_RAW_REDACTIONS_HEADER_BYTES} bytes. Each is checked against the command decoded there (400 when it is not a marker of that rule) `
    + "and listed in the stored record's `redactions`; a marker no entry names is text someone typed.",
  example: "0:mysql-password@9-44;812:github-token@7-54",
});
