import { createRoute } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import { formatCommandTime, type Session, sessionsPageSchema, sessionsQuerySchema } from "../../../protocol/index.ts";
import type { AppDeps } from "../app.ts";
import type { SessionCursor, SessionSummary } from "../db/store.ts";
import { errors, json, newRouter, tokenRequired } from "../openapi.ts";

const listSessions = (deps: AppDeps) => createRoute({
  method: "get", path: "/", operationId: "listSessions", tags: ["query"],
  summary: "One host's sessions, the most recently active first, with what is missing from each (read token)",
  description: "Each session's records summed up: its users, first and last time, sequence range, how many sequence numbers "
    + "never arrived, whether its start and end are stored, and how many of its records conflict. A user can only "
    + "affect their own records; what they do to them shows here.",
  ...tokenRequired(deps.tokens.read),
  request: { query: sessionsQuerySchema },
  responses: {
    200: json(sessionsPageSchema, "A page of sessions."),
    400: errors[400], 401: errors[401],
  },
});

export function encodeSessionCursor(c: SessionCursor): string {
  return Buffer.from(`${c.lastTsUs}.${c.sessionId}`).toString("base64url");
}

export function decodeSessionCursor(s: string): SessionCursor | undefined {
  const m = /^(-?\d{1,17})\.([A-Za-z0-9._:@-]{1,64})$/.exec(Buffer.from(s, "base64url").toString("latin1"));
  return m ? { lastTsUs: Number(m[1]), sessionId: m[2]! } : undefined;
}

function present(s: SessionSummary): Session {
  return {
    sessionId: s.sessionId, hostname: s.hostname, lusers: s.lusers, susers: s.susers, attestedUsers: s.attestedUsers,
    firstTime: formatCommandTime(s.firstTsUs, null), lastTime: formatCommandTime(s.lastTsUs, null),
    records: s.records, firstSeq: s.firstSeq, lastSeq: s.lastSeq, missingSeqs: s.lastSeq - s.firstSeq + 1 - s.seqs,
    started: s.started, ended: s.ended, conflicts: s.conflicts,
  };
}

/** GET: one host's sessions (a host page lists them; a gap or a missing end is where records went missing). */
export function sessionsRoutes(deps: AppDeps) {
  return newRouter().openapi(listSessions(deps), async (c) => {
    const q = c.req.valid("query");
    const limit = Math.min(q.limit ?? 100, deps.config.limits.max_page_size);
    const after = q.cursor !== undefined ? decodeSessionCursor(q.cursor) : undefined;
    if (q.cursor !== undefined && !after) throw new HTTPException(400, { message: "cursor is not one this server issued" });
    const rows = await deps.store.sessions({ host: q.host, fromUs: q.from, toUs: q.to }, limit, after);
    const last = rows.at(-1);
    return c.json({
      items: rows.map(present),
      nextCursor: rows.length === limit && last ? encodeSessionCursor({ lastTsUs: last.lastTsUs, sessionId: last.sessionId }) : null,
    }, 200);
  });
}
