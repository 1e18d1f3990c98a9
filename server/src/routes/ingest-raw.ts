import { createRoute } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import { z } from "zod";
import {
  type AuditRecord, LogDecoder, lines, MAX_PENDING_GAP, normalizeRecord, parseUtcOffset, rawIngestAnswerSchema, rawIngestQuerySchema,
  type Rejected, toWireRecord, type DecodeEvent,
} from "../../../protocol/index.ts";
import { checkDeclared } from "../../../protocol/redact/declared.ts";
import type { Redaction } from "../../../protocol/redact/index.ts";
import { parseRawRedactions, RAW_REDACTIONS_HEADER, rawRedactionsHeaderSchema } from "../../../protocol/redact/raw-header.ts";
import type { AppDeps } from "../app.ts";
import { readIngestBody } from "../body.ts";
import { admissionNow, admit, commitBatch, reporterOf } from "../ingest.ts";
import { errors, json, newRouter, tokenRequired } from "../openapi.ts";

const ingestRaw = (deps: AppDeps) => createRoute({
  method: "post", path: "/", operationId: "ingestRaw", tags: ["ingest"],
  summary: "Add log lines as the hook wrote them (ingest token)",
  description: "The lines are decoded with the reporter's codec. `consumed` says how many bytes of the body are settled; "
    + "the client resends the rest (a partial last line, a record whose parts are not all in the body yet) with its next request. "
    + "The body may be gzip (Content-Encoding: gzip).",
  ...tokenRequired(deps.tokens.ingest),
  request: {
    query: rawIngestQuerySchema,
    headers: z.object({ [RAW_REDACTIONS_HEADER.toLowerCase()]: rawRedactionsHeaderSchema.optional() }),
    // A plain schema, not zod: the handler reads the bytes itself.
    body: { required: true, content: { "text/plain": { schema: { type: "string", description: "Log lines, each ending in LF." } } } },
  },
  responses: {
    200: json(rawIngestAnswerSchema, "The settled part of the body is stored, rejected or ignored; `consumed` says how far it goes."),
    400: errors[400], 401: errors[401], 413: errors[413], 415: errors[415], 429: errors[429], 503: errors[503],
  },
});

/**
 * Plain log lines, parsed here with the same codec the reporter uses: for hosts
 * whose reporter is the POSIX sh fallback. The answer's `consumed` is how many
 * bytes of the body are settled (stored, duplicate, rejected or ignored); the
 * client resends the rest (a partial last line, or a record whose parts are not
 * all in the body yet) with its next request. `?final=1` marks the end of a file
 * that will not grow: unfinished records are then rejected instead of held back. `?giveUp=N`:
 * unfinished records whose head line starts in the first N bytes of the body are rejected (the
 * reporter's wait for their parts at the end of the log is over). `X-Cmdaudit-Redactions`
 * (protocol/redact/raw-header.ts): the markers the compiled reporter placed, per record; each is
 * checked against the command decoded there and passed on as the record's declared `redactions`.
 */
export function ingestRawRoutes(deps: AppDeps) {
  const { store, metrics, logger, config } = deps;
  return newRouter().openapi(ingestRaw(deps), async (c) => {
    const query = c.req.valid("query");
    const givenOffset = query.utcOffset ?? c.req.header("x-cmdaudit-utc-offset");
    const offsetParam = givenOffset ?? config.legacy_utc_offset;
    const legacyUtcOffset = parseUtcOffset(offsetParam);
    if (legacyUtcOffset === undefined) throw new HTTPException(400, { message: `utcOffset ${JSON.stringify(offsetParam.slice(0, 20))} is not ±HH:MM` });
    const final = query.final === "1";
    const giveUp = Number(query.giveUp ?? 0);
    const header = c.req.header(RAW_REDACTIONS_HEADER);
    const entries = header === undefined ? [] : parseRawRedactions(header);
    if (typeof entries === "string") throw new HTTPException(400, { message: `${RAW_REDACTIONS_HEADER}: ${entries}` });
    const body = await readIngestBody(c, deps, { maxLines: true });
    /** The redactions the reporter made (protocol/redact/raw-header.ts), by the body offset of each record's first line; each taken once checked. */
    const declared = new Map<number, Redaction[]>(entries.map((e) => [e.offset, e.redactions]));
    const refuse = (offset: number, why: string) => {
      throw new HTTPException(400, { message: `${RAW_REDACTIONS_HEADER}: the entry for body offset ${offset}: ${why}` });
    };
    /** Body offsets of damaged lines and records given up: a declaration there has nothing to describe (nothing is stored). */
    const damagedAt = new Set<number>();

    // A record cut for good must be given up within one body, or a client resending from `consumed` would
    // wedge: the decoder's bounds (MAX_PENDING_LINES, MAX_PENDING_GAP) are far inside a body's limits.
    const decoder = new LogDecoder({ legacyUtcOffset, maxPendingSpan: Math.min(MAX_PENDING_GAP, Math.floor(config.limits.max_body_bytes / 4)) });
    const lineOf = new Map<number, number>();
    const valid: AuditRecord[] = [];
    const rejected: Rejected[] = [];
    let ignored = 0;
    let complete = 0;
    const admission = admissionNow(config, c.get("identity"));
    const handle = (ev: DecodeEvent) => {
      // Empty lines are the hook's own (it writes LF, the line, LF): only other lines are ignored ones worth counting.
      if (ev.type === "foreign") { if (ev.raw.length > 0) ignored++; return; }
      if (ev.type === "damaged") { damagedAt.add(ev.offset); rejected.push({ line: lineOf.get(ev.offset), error: `damaged line: ${ev.reason}` }); return; }
      const wire = toWireRecord(ev.record);
      const mine = declared.get(ev.offset);
      if (mine) {
        // A declaration that is not a marker of that rule there is a lie about what the reporter did: the whole body is refused.
        const wrong = checkDeclared(mine, ev.record.command);
        if (wrong) refuse(ev.offset, wrong);
        declared.delete(ev.offset);
        wire.redactions = mine;
      }
      // A seed line's zone-less time at the server's configured offset is assumed, as for a JSON seed
      // record (utcOffset null); only an offset the client declared (query or header) is kept.
      if (ev.record.legacy && givenOffset === undefined) delete wire.utcOffset;
      const r = admit(normalizeRecord(wire, { legacyUtcOffset, redactor: deps.redactor }), admission);
      if (typeof r === "string") rejected.push({ line: lineOf.get(ev.offset), error: r });
      else valid.push(r);
    };
    let n = 0;
    for (const { line, offset } of lines(body)) {
      lineOf.set(offset, ++n);
      for (const ev of decoder.push(line, offset)) handle(ev);
      complete = offset + line.length + 1;
    }
    if (giveUp > 0) decoder.giveUp(giveUp).forEach(handle);
    if (final) decoder.finish().forEach(handle);
    const max = config.limits.max_records_per_batch;
    if (valid.length + rejected.length > max) throw new HTTPException(413, { message: `body holds more than ${max} records` });
    const consumed = Math.min(decoder.pendingFrom() ?? complete, complete);
    // What is left names no record of this body: fine for a record still waiting for its parts (at or after
    // `consumed`: sent again, with its entry) or one damaged or given up; anywhere else the header is wrong.
    for (const offset of declared.keys()) {
      if (!lineOf.has(offset)) refuse(offset, offset >= body.length ? `past the body's ${body.length} bytes` : "not the start of a line");
      if (offset < consumed && !damagedAt.has(offset)) refuse(offset, "no record starts there");
    }
    const res = await commitBatch(deps, valid, rejected.length, c.get("identity"), reporterOf(c.req.header("user-agent")));
    return c.json({ code: 0 as const, msg: rejected.length ? `${rejected.length} line(s) rejected` : "ok", accepted: res.inserted, duplicates: res.duplicates, rejected, ignored, consumed }, 200);
  });
}
