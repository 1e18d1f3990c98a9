import { and, eq, gte, lt, lte, ne, or, type SQL } from "drizzle-orm";
import type { servercmdhist as mysqlTable } from "./mysql/schema.ts";
import type { servercmdhist as sqliteTable } from "./sqlite/schema.ts";
import type { CommandFilter, Cursor } from "./store.ts";

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
    // lte() bounds the index range; the or() breaks ties on equal timestamps by id.
    after ? lte(c.tsUs, after.tsUs) : undefined,
    after ? or(lt(c.tsUs, after.tsUs), lt(c.id, after.id)) : undefined,
  ];
  return and(...conds.filter((x): x is SQL => x !== undefined));
}
