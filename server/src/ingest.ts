import { HTTPException } from "hono/http-exception";
import { type AuditRecord, formatCommandTime } from "../../protocol/index.ts";
import type { Identity } from "./auth.ts";
import type { Config } from "./config.ts";
import type { AppDeps } from "./app.ts";

/** A reporter's User-Agent as the hosts page shows it: printable ASCII, at most 64 characters; undefined without one. */
export function reporterOf(userAgent: string | undefined): string | undefined {
  const s = userAgent?.replace(/[^\x20-\x7e]/g, "").trim().slice(0, 64);
  return s || undefined;
}

/**
 * Commit the valid records of a batch with the alerts they raise (matched before the transaction,
 * written in it); counts go to metrics only once the commit succeeded.
 */
export async function commitBatch(deps: Pick<AppDeps, "store" | "metrics" | "logger" | "alerts">, records: AuditRecord[], rejected: number, identity: Identity, reporter?: string) {
  const { store, metrics, logger, alerts } = deps;
  const started = performance.now();
  const nowUs = Date.now() * 1000;
  let result;
  try {
    const sink = records.length ? alerts.raiser.sink(records, await alerts.rules.current(), nowUs) : undefined;
    result = await store.insert(records, nowUs, identity.kind === "host" || identity.kind === "shared" ? identity.kind : undefined, reporter, sink);
    // Only a host's own token says whose the refused records were (a shared token's could claim any host).
    if (rejected > 0 && identity.kind === "host") await store.countRejected(identity.host, rejected);
  } catch (e) {
    // Driver errors can quote the SQL and its parameters (command text): log only codes.
    const err = e as { name?: string; cause?: { code?: string; errno?: number } };
    logger.log("error", "store insert failed", { error: err.name, code: err.cause?.code, errno: err.cause?.errno, records: records.length });
    throw new HTTPException(503, { message: "database unavailable, nothing was stored; retry the batch" });
  }
  metrics.records.accepted += result.inserted;
  metrics.records.duplicate += result.duplicates;
  metrics.records.rejected += rejected;
  metrics.alertsRaised += result.alerts;
  for (const r of records) for (const x of r.redactions) metrics.redacted(x.rule);
  // Only new messages need sending now; matches that count in an open window wait for it to close.
  if (result.messages > 0) alerts.wake();
  metrics.ingest((performance.now() - started) / 1000);
  return result;
}

const DAY_US = 86_400e6;

/** What a record is admitted against: the receipt time and who sent it. */
export interface Admission {
  nowUs: number;
  maxFutureSeconds: number;
  /** 0: no bound. */
  maxAgeDays: number;
  identity: Identity;
}

/** What a request's records are admitted against now: `records.*` of the config, its token's identity. */
export function admissionNow(config: Config, identity: Identity): Admission {
  return { nowUs: Date.now() * 1000, maxFutureSeconds: config.records.max_future_seconds, maxAgeDays: config.records.max_age_days, identity };
}

/**
 * A normalized record (or the reason it is not one) as this server takes it: a well-formed record
 * is refused too when a per-host token sent it for another host (a host writes only its own
 * records), when its time is further ahead of the server's clock than `records.max_future_seconds`
 * (a wrong host clock or a forged date would otherwise top every newest-first page and pin the hosts
 * view for good), or further back than `records.max_age_days`. Both ingest routes admit every record through here.
 */
export function admit(r: AuditRecord | string, a: Admission): AuditRecord | string {
  if (typeof r === "string") return r;
  // Only a reporter that holds its host's own token can vouch that the kernel attested a record.
  if (r.attestation === "kernel" && a.identity.kind !== "host") return "attestation kernel needs the host's own token (a shared token writes for any host)";
  if (a.identity.kind === "host" && r.hostname.toLowerCase() !== a.identity.host) {
    return `hostname ${JSON.stringify(r.hostname)} is not the host this token belongs to (${a.identity.host}): a host token writes only its own host's records`;
  }
  const aheadUs = r.tsUs - a.nowUs;
  if (aheadUs > a.maxFutureSeconds * 1e6) {
    return `time ${formatCommandTime(r.tsUs, null)} is ${Math.floor(aheadUs / 1e6)} s ahead of the server's clock (at most ${a.maxFutureSeconds} s: records.max_future_seconds)`;
  }
  if (a.maxAgeDays > 0 && -aheadUs > a.maxAgeDays * DAY_US) {
    return `time ${formatCommandTime(r.tsUs, null)} is ${Math.floor(-aheadUs / DAY_US)} days before the server's clock (at most ${a.maxAgeDays}: records.max_age_days; 0 takes old logs)`;
  }
  return r;
}
