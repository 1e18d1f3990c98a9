import { createRoute } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import {
  type AuditRecord, commandsPageSchema, commandsQuerySchema, ingestAnswerSchema, normalizeRecord, parseUtcOffset, type Rejected, wireRecordSchema,
} from "../../../protocol/index.ts";
import type { AppDeps } from "../app.ts";
import { readIngestBody } from "../body.ts";
import { admissionNow, admit, commitBatch, reporterOf } from "../ingest.ts";
import { errors, inputJsonSchema, json, newRouter, tokenRequired } from "../openapi.ts";
import { commandFilter, decodeCursor, encodeCursor, exportStream, presentRecord } from "../present.ts";

const ingest = (deps: AppDeps) => createRoute({
  method: "post", path: "/", operationId: "ingestCommands", tags: ["ingest"],
  summary: "Add a batch of JSON records (ingest token)",
  description: "Each record is checked alone: the valid ones are stored, the others listed in `rejected` with the reason. The body may be gzip (Content-Encoding: gzip).",
  ...tokenRequired(deps.tokens.ingest),
  request: {
    // A plain schema, not zod: the handler reads the body itself (gzip, size limits, per-record answers).
    body: { required: true, content: { "application/json": { schema: { type: "array", items: { $ref: "#/components/schemas/WireRecord" } } } } },
  },
  responses: {
    200: json(ingestAnswerSchema, "The valid records are stored; `rejected` names the others."),
    400: errors[400], 401: errors[401], 413: errors[413], 415: errors[415], 429: errors[429], 503: errors[503],
  },
});

const query = (deps: AppDeps) => createRoute({
  method: "get", path: "/", operationId: "queryCommands", tags: ["query"],
  summary: "Read records, newest first (read token)",
  description: "A page of JSON, or with format=ndjson|csv (or Accept: application/x-ndjson, text/csv) an export of every match, streamed.",
  ...tokenRequired(deps.tokens.read),
  request: { query: commandsQuerySchema },
  responses: {
    200: {
      description: "The matching records.",
      content: {
        "application/json": { schema: commandsPageSchema },
        "application/x-ndjson": { schema: { type: "string", description: "One Record (JSON) per line." } },
        "text/csv": { schema: { type: "string", description: "A header line, then one record per line (CRLF)." } },
      },
    },
    400: errors[400], 401: errors[401],
  },
});

/** POST: reporters add records (ingest token). GET: people read them (read token). */
export function commandsRoutes(deps: AppDeps) {
  const { store, metrics, logger, config } = deps;
  const legacyUtcOffset = parseUtcOffset(config.legacy_utc_offset)!;

  const router = newRouter();
  router.openAPIRegistry.registerComponent("schemas", "WireRecord", inputJsonSchema(wireRecordSchema));
  return router
    .openapi(ingest(deps), async (c) => {
      const body = await readIngestBody(c, deps);
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
      const admission = admissionNow(config, c.get("identity"));
      data.forEach((item, index) => {
        const r = admit(normalizeRecord(item, { legacyUtcOffset, redactor: deps.redactor }), admission);
        if (typeof r === "string") rejected.push({ index, error: r });
        else valid.push(r);
      });
      const res = await commitBatch(deps, valid, rejected.length, c.get("identity"), reporterOf(c.req.header("user-agent")));
      // `code: 0` as the seed answered: the valid records are committed; `rejected` says which were not and why.
      return c.json({ code: 0 as const, msg: rejected.length ? `${rejected.length} record(s) rejected` : "ok", accepted: res.inserted, duplicates: res.duplicates, rejected }, 200);
    })
    .openapi(query(deps), async (c) => {
      const q = c.req.valid("query");
      const filter = commandFilter(q);
      const after = q.cursor !== undefined ? decodeCursor(q.cursor) : undefined;
      if (q.cursor !== undefined && !after) throw new HTTPException(400, { message: "cursor is not one this server issued" });
      const accept = c.req.header("accept") ?? "";
      const format = q.format ?? (accept.includes("application/x-ndjson") ? "ndjson" : accept.includes("text/csv") ? "csv" : "json");
      if (q.csv !== undefined && format !== "csv") throw new HTTPException(400, { message: "csv: only with a CSV export (format=csv or Accept: text/csv)" });
      if (format !== "json") {
        const type = format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson";
        return new Response(exportStream(store, filter, format, after, q.limit ?? Infinity, q.csv ?? "safe"), { headers: { "Content-Type": type } });
      }
      const limit = q.limit ?? 100;
      if (limit > config.limits.max_page_size) throw new HTTPException(400, { message: `limit: at most ${config.limits.max_page_size} (use an ndjson or csv export for more)` });
      const rows = await store.query(filter, limit, after);
      const last = rows[rows.length - 1];
      return c.json({ items: rows.map(presentRecord), nextCursor: rows.length === limit && last ? encodeCursor({ tsUs: last.tsUs, id: last.id }) : null }, 200);
    });
}
