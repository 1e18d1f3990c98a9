import { and, eq, gte, inArray, lt, lte, ne, or, type SQL, sql } from "drizzle-orm";
import type { servercmdhist as mysqlTable } from "./mysql/schema.ts";
import type { servercmdhist as sqliteTable } from "./sqlite/schema.ts";
import type { CommandFilter, Cursor, SessionCursor, SessionFilter, TranscriptCursor } from "./store.ts";

type Table = typeof mysqlTable | typeof sqliteTable;

/**
 * WHERE clause shared by both dialects; the command-text condition differs
 * (MySQL LIKE under a binary collation, SQLite instr()) and is passed in.
 */
export function whereClause(t: Table, f: CommandFilter, after: Cursor | undefined, textCond: (q: string) => SQL): SQL | undefined {
  // The casts only unify the two dialects' column types for the generic operators.
  const c = t as typeof mysqlTable;
  const conds: (SQL | undefined)[] = [
    f.host !== undefined ? eq(c.hostname, f.host) : undefined,
    f.luser !== undefined ? eq(c.luser, f.luser) : undefined,
    f.suser !== undefined ? eq(c.suser, f.suser) : undefined,
    f.clientIp !== undefined ? eq(c.clientIp, f.clientIp) : undefined,
    f.sessionId !== undefined ? eq(c.sessionId, f.sessionId) : undefined,
    f.kind !== undefined ? eq(c.kind, f.kind) : undefined,
    f.exitStatus !== undefined ? eq(c.exitStatus, f.exitStatus) : undefined,
    f.fromUs !== undefined ? gte(c.tsUs, f.fromUs) : undefined,
    f.toUs !== undefined ? lt(c.tsUs, f.toUs) : undefined,
    f.q !== undefined ? textCond(f.q) : undefined,
    f.flagged !== undefined ? (f.flagged ? ne(c.flags, "") : eq(c.flags, "")) : undefined,
    f.hostIn !== undefined ? (f.hostIn.length ? inArray(c.hostname, f.hostIn) : sql`1 = 0`) : undefined,
    // lte() bounds the index range; the or() breaks ties on equal timestamps by id.
    after ? lte(c.tsUs, after.tsUs) : undefined,
    after ? or(lt(c.tsUs, after.tsUs), lt(c.id, after.id)) : undefined,
  ];
  return and(...conds.filter((x): x is SQL => x !== undefined));
}

/** One session's records after a transcript position, in (seq, id) order (both dialects). */
export function transcriptClause(t: Table, host: string, sessionId: string, after: TranscriptCursor | undefined): SQL | undefined {
  const c = t as typeof mysqlTable;
  return and(
    eq(c.hostname, host), eq(c.sessionId, sessionId),
    ...(after ? [gte(c.seq, after.seq), or(sql`${c.seq} > ${after.seq}`, sql`${c.id} > ${after.id}`)!] : []),
  );
}

/** What the two dialects write differently in the sessions query. */
export interface SessionDialect {
  /** Placed right after SELECT (MySQL: an optimizer hint). */
  hint: SQL;
  /** The distinct values of a name column, as sessionFromRow reads them for this dialect. */
  names: (column: "luser" | "suser" | "attested_user") => SQL;
}

/**
 * The sessions of one host (Store.sessions), one statement for both dialects: one row per session with
 * the columns of SessionRow, newest activity first, keyset-paged by (last time, session id).
 */
export function sessionsQuery(d: SessionDialect, f: SessionFilter, limit: number, after?: SessionCursor): SQL {
  const range = sql.join([
    sql`hostname = ${f.host} AND session_id IS NOT NULL`,
    ...(f.fromUs !== undefined ? [sql`ts_us >= ${f.fromUs}`] : []),
    ...(f.toUs !== undefined ? [sql`ts_us < ${f.toUs}`] : []),
  ], sql` AND `);
  const page = after ? sql`HAVING MAX(ts_us) < ${after.lastTsUs} OR (MAX(ts_us) = ${after.lastTsUs} AND session_id < ${after.sessionId})` : sql``;
  return sql`
    SELECT ${d.hint} session_id, MIN(hostname) AS hostname,
      ${d.names("luser")} AS lusers, ${d.names("suser")} AS susers, ${d.names("attested_user")} AS attested_users,
      MIN(ts_us) AS first_ts, MAX(ts_us) AS last_ts, COUNT(*) AS records, MIN(seq) AS first_seq, MAX(seq) AS last_seq,
      COUNT(DISTINCT seq) AS seqs, SUM(kind = 'session_start') AS started, SUM(kind = 'session_end') AS ended,
      SUM(CONCAT(',', flags, ',') LIKE '%,conflict,%') AS conflicts
    FROM servercmdhist WHERE ${range} GROUP BY session_id ${page}
    ORDER BY last_ts DESC, session_id DESC LIMIT ${limit}`;
}
