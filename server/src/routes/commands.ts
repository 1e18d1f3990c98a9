import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { z } from "zod";
import { type AuditRecord, normalizeRecord, parseCommandTime, parseUtcOffset, RECORD_KINDS } from "../../../protocol/index.ts";
import type { AppDeps } from "../app.ts";
import { requireToken } from "../auth.ts";
import { readBody } from "../body.ts";
import type { CommandFilter } from "../db/store.ts";
import { commitBatch, type Rejected } from "../ingest.ts";
import { decodeCursor, encodeCursor, exportStream, presentRecord } from "../present.ts";

const time = () => z.string().transform((s, ctx) => {
  const t = parseCommandTime(s);
  if (typeof t === "string") {
    ctx.addIssue({ code: "custom", message: t.replace(/^ctime/, "time") });
    return z.NEVER;
  }
  return t.tsUs;
});

export const querySchema = z.strictObject({
  host: z.string().max(255).optional(),
  luser: z.string().max(64).optional(),
  suser: z.string().max(64).optional(),
  clientIp: z.string().max(45).optional(),
  session: z.string().max(64).optional(),
  kind: z.enum(RECORD_KINDS).optional(),
  exitStatus: z.coerce.number().int().min(0).max(255).optional(),
  q: z.string().min(1).max(1024).optional(),
  from: time().optional(),
  to: time().optional(),
  limit: z.coerce.number().int().min(1).optional(),
  cursor: z.string().max(64).optional(),
  format: z.enum(["json", "ndjson", "csv"]).optional(),
});

function badQuery(issues: z.core.$ZodIssue[]): never {
  const i = issues[0]!;
  const msg = i.code === "unrecognized_keys" ? `unknown query parameter(s): ${i.keys.join(", ")}` : `${i.path.join(".")}: ${i.message}`;
  throw new HTTPException(400, { message: msg });
}

/** POST: reporters add records (ingest token). GET: people read them (read token). */
export function commandsRoutes(deps: AppDeps) {
  const { store, metrics, logger, config } = deps;
  const legacyUtcOffset = parseUtcOffset(config.legacy_utc_offset)!;

  return new Hono()
    .post("/", requireToken(deps.tokens.ingest), async (c) => {
      const body = await readBody(c, config.limits.max_body_bytes);
      let data: unknown;
      try {
        data = JSON.parse(body.toString("utf8"));
      } catch (e) {
        throw new HTTPException(400, { message: `body is not valid JSON: ${(e as Error).message.slice(0, 100)}` });
      }
      if (!Array.isArray(data)) throw new HTTPException(400, { message: "body must be a JSON array of records" });
      const max = config.limits.max_records_per_batch;
      if (data.length > max) throw new HTTPException(413, { message: `batch has ${data.length} records; at most ${max} are allowed` });
      const valid: AuditRecord[] = [];
      const rejected: Rejected[] = [];
      data.forEach((item, index) => {
        const r = normalizeRecord(item, { legacyUtcOffset });
        if (typeof r === "string") rejected.push({ index, error: r });
        else valid.push(r);
      });
      const res = await commitBatch(store, metrics, logger, valid, rejected.length);
      // `code: 0` as the seed answered: the valid records are committed; `rejected` says which were not and why.
      return c.json({ code: 0, msg: rejected.length ? `${rejected.length} record(s) rejected` : "ok", accepted: res.inserted, duplicates: res.duplicates, rejected });
    })
    .get("/", requireToken(deps.tokens.read), zValidator("query", querySchema, (r) => {
      if (!r.success) badQuery(r.error.issues);
    }), async (c) => {
      const q = c.req.valid("query");
      const filter: CommandFilter = {
        host: q.host, luser: q.luser, suser: q.suser, clientIp: q.clientIp, sessionId: q.session,
        kind: q.kind, exitStatus: q.exitStatus, q: q.q, fromUs: q.from, toUs: q.to,
      };
      const after = q.cursor !== undefined ? decodeCursor(q.cursor) : undefined;
      if (q.cursor !== undefined && !after) throw new HTTPException(400, { message: "cursor is not one this server issued" });
      const accept = c.req.header("accept") ?? "";
      const format = q.format ?? (accept.includes("application/x-ndjson") ? "ndjson" : accept.includes("text/csv") ? "csv" : "json");
      if (format !== "json") {
        const type = format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson";
        return new Response(exportStream(store, filter, format, after, q.limit ?? Infinity), { headers: { "Content-Type": type } });
      }
      const limit = q.limit ?? 100;
      if (limit > config.limits.max_page_size) throw new HTTPException(400, { message: `limit: at most ${config.limits.max_page_size} (use an ndjson or csv export for more)` });
      const rows = await store.query(filter, limit, after);
      const last = rows[rows.length - 1];
      return c.json({ items: rows.map(presentRecord), nextCursor: rows.length === limit && last ? encodeCursor({ tsUs: last.tsUs, id: last.id }) : null });
    });
}
