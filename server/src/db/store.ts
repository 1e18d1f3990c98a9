import type { AuditRecord, IngestAuth } from "../../../protocol/index.ts";

/** A stored audit record: the contract record plus its row id and arrival time. */
export interface StoredRecord extends AuditRecord {
  id: number;
  /** When the server committed it (UTC µs); 0 for rows the 2018 backend wrote. */
  receivedUs: number;
}

export interface CommandFilter {
  host?: string;
  luser?: string;
  suser?: string;
  clientIp?: string;
  sessionId?: string;
  kind?: string;
  exitStatus?: number;
  /** Substring of the command text, case-sensitive. */
  q?: string;
  /** Inclusive lower bound, UTC µs. */
  fromUs?: number;
  /** Exclusive upper bound, UTC µs. */
  toUs?: number;
  /** true: only records with flags; false: only records without. */
  flagged?: boolean;
}

/** Keyset position: rows strictly older than (tsUs, id) in newest-first order. */
export interface Cursor {
  tsUs: number;
  id: number;
}

export interface HostSummary {
  hostname: string;
  serverIps: string;
  firstSeenUs: number;
  lastSeenUs: number;
  /** The latest batch with a record of this host (duplicates included): the host's reporter is talking. */
  lastReceivedUs: number;
  /** The latest batch that stored something new of this host: the host's records are arriving. */
  lastStoredUs: number;
  records: number;
  /** The token kind of the latest batch that stored records of this host; null before it was kept. */
  ingestAuth: IngestAuth | null;
}

export interface InsertResult {
  inserted: number;
  duplicates: number;
}

/** Everything the server needs from a database; one implementation per dialect. */
export interface Store {
  readonly dialect: "mysql" | "sqlite";
  /**
   * Store records once each (by `oci`); resolves only after the transaction committed. `auth`: the
   * kind of token that sent them, kept per host when the batch stored something new of it.
   */
  insert(records: AuditRecord[], receivedUs: number, auth?: IngestAuth): Promise<InsertResult>;
  /** Newest first, (tsUs, id) descending, at most `limit` rows after `after`. */
  query(filter: CommandFilter, limit: number, after?: Cursor): Promise<StoredRecord[]>;
  hosts(): Promise<HostSummary[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Per-host aggregates of a batch, applied to the hosts table in the same transaction. */
export function hostDeltas(records: AuditRecord[]): Map<string, { serverIps: string; minTs: number; maxTs: number; records: AuditRecord[] }> {
  const by = new Map<string, { serverIps: string; minTs: number; maxTs: number; records: AuditRecord[] }>();
  for (const r of records) {
    const h = by.get(r.hostname);
    if (!h) by.set(r.hostname, { serverIps: r.serverIps, minTs: r.tsUs, maxTs: r.tsUs, records: [r] });
    else {
      h.records.push(r);
      if (r.tsUs < h.minTs) h.minTs = r.tsUs;
      if (r.tsUs > h.maxTs) { h.maxTs = r.tsUs; h.serverIps = r.serverIps; }
    }
  }
  // Sorted so concurrent batches lock host rows in the same order (no deadlocks).
  return new Map([...by].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** LIKE pattern for a literal substring (backslash is the escape character in both dialects as used). */
export function likeContains(s: string): string {
  return "%" + s.replace(/[\\%_]/g, (c) => "\\" + c) + "%";
}
