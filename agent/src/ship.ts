/**
 * POST raw log bytes to the ingest server (`/api/v1/ingest/raw`), or JSON records (`/api/v1/commands`,
 * for the stamped spool): gzip, a timeout per request, retries with exponential backoff and jitter
 * inside the run's budget, which no request outlasts. For raw bytes the server decodes the lines with
 * the contract codec and answers how many bytes of the body are settled (`consumed`); only that
 * advances a checkpoint.
 */
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { type IngestAnswer, ingestAnswerSchema, type RawIngestAnswer, rawIngestAnswerSchema } from "../../protocol/http.ts";
import type { WireRecord } from "../../protocol/index.ts";
import { RAW_REDACTIONS_HEADER } from "../../protocol/redact/raw-header.ts";
import type { ReporterConfig } from "./config.ts";

export const VERSION = process.env.CMDAUDIT_REPORTER_VERSION ?? "dev";

export type RawAnswer = RawIngestAnswer;

/** The server will not take this (bad token, forbidden, bad request): retrying cannot help. Exit 4. */
export class ServerRefused extends Error {}
/** No usable answer after every attempt (down, 5xx, 429, timeout). Exit 3. */
export class ServerUnreachable extends Error {}
/** The run's budget ended before an answer came (or before a request could start): no retry. */
export class BudgetUsedUp extends ServerUnreachable {}
/** 429: the server asks this token to come back later (`Retry-After`, in ms when given). Retried like 5xx; exit 3. */
export class ServerBusy extends ServerUnreachable {
  constructor(message: string, readonly retryAfterMs: number | undefined) {
    super(message);
  }
}
/** 413: the caller sends less. */
export class BodyTooLarge extends Error {}

export interface Shipper {
  /**
   * `final`: the end of a file that will not grow. `giveUp`: the record at the body's first byte waited long enough for its parts.
   * `redactions`: the X-Cmdaudit-Redactions value for the records of the body this reporter redacted.
   */
  postRaw(body: Uint8Array, final: boolean, giveUp?: boolean, redactions?: string): Promise<RawAnswer>;
  /** JSON records (the spool's, with their attestation); the answer names each rejected one by index. */
  postRecords(records: WireRecord[]): Promise<IngestAnswer>;
  /** Whether the server has answered a request of this shipper with an ingest answer. */
  answered(): boolean;
}

export function createShipper(cfg: ReporterConfig & { tokenValue: string }, utcOffset: string, deadlineMs: number, sleep = Bun.sleep): Shipper {
  const base = cfg.server.url.endsWith("/") ? cfg.server.url : cfg.server.url + "/";
  const url = new URL("api/v1/ingest/raw", base);
  url.searchParams.set("utcOffset", utcOffset);
  const commandsUrl = new URL("api/v1/commands", base);
  const ca = cfg.server.ca_file ? readFileSync(cfg.server.ca_file, "utf8") : undefined;
  const timeoutMs = cfg.server.timeout_seconds * 1000;
  let answered = false;

  /** One request: the parsed JSON of a 200, or the error its status means. */
  async function send(u: URL, body: Uint8Array, contentType: string, extra: Record<string, string> = {}): Promise<unknown> {
    const headers: Record<string, string> = {
      AccessToken: cfg.tokenValue,
      "Content-Type": contentType,
      "User-Agent": `cmdaudit-reporter/${VERSION}`,
      ...extra,
    };
    let payload: Uint8Array = body;
    if (cfg.batch.gzip && body.length > 512) {
      payload = gzipSync(body, { level: 1 });
      headers["Content-Encoding"] = "gzip";
    }
    // The run's budget bounds every request, connect and read included: none starts or goes on past the deadline.
    const left = Math.floor(deadlineMs - Date.now());
    if (left <= 0) throw new BudgetUsedUp("no answer before the run's budget (run.budget_seconds) ran out");
    const byBudget = left < timeoutMs;
    const signal = AbortSignal.timeout(Math.min(timeoutMs, left));
    const timedOut = () => byBudget
      ? new BudgetUsedUp(`no answer before the run's budget (run.budget_seconds: ${cfg.run.budget_seconds} s) ran out`)
      : new ServerUnreachable(`no answer within ${cfg.server.timeout_seconds} s`);
    let res: Response;
    try {
      res = await fetch(u, { method: "POST", headers, body: payload, signal, ...(ca ? { tls: { ca } } : {}) });
    } catch (e) {
      const err = e as Error;
      throw err.name === "TimeoutError" ? timedOut() : new ServerUnreachable(`cannot reach ${u.origin}: ${err.message.slice(0, 200)}`);
    }
    let text: string;
    try {
      text = await res.text();
    } catch {
      throw signal.aborted ? timedOut() : new ServerUnreachable("the server's answer broke off");
    }
    const msg = () => {
      try {
        return String((JSON.parse(text) as { msg?: unknown }).msg ?? "").slice(0, 200);
      } catch {
        return text.slice(0, 100);
      }
    };
    if (res.status === 413) throw new BodyTooLarge(`server: ${msg()}`);
    if (res.status === 429) throw new ServerBusy(`server answered HTTP 429 (rate limit): ${msg()}`, retryAfterMs(res.headers.get("retry-after")));
    // 408: a proxy gave up waiting for the body (slow link); like a timeout, worth another attempt.
    if (res.status === 408) throw new ServerUnreachable(`server answered HTTP 408 (request timeout): ${msg()}`);
    if (res.status === 401 || res.status === 403) throw new ServerRefused(`server refused the token (HTTP ${res.status}): ${msg()}`);
    if (res.status >= 400 && res.status < 500) throw new ServerRefused(`server refused the request (HTTP ${res.status}): ${msg()}`);
    if (res.status !== 200) throw new ServerUnreachable(`server answered HTTP ${res.status}: ${msg()}`);
    try {
      return JSON.parse(text);
    } catch {
      throw new ServerUnreachable("server answered 200 without JSON");
    }
  }

  async function once(body: Uint8Array, final: boolean, giveUp: boolean, redactions: string | undefined): Promise<RawAnswer> {
    const u = new URL(url);
    if (final) u.searchParams.set("final", "1");
    if (giveUp) u.searchParams.set("giveUp", "1");
    const a = rawIngestAnswerSchema.safeParse(await send(u, body, "text/plain; charset=utf-8", redactions === undefined ? {} : { [RAW_REDACTIONS_HEADER]: redactions }));
    if (!a.success) throw new ServerUnreachable(`server answer is not an ingest answer: ${a.error.issues[0]!.path.join(".")} ${a.error.issues[0]!.message}`);
    if (a.data.consumed > body.length) throw new ServerUnreachable("server answer claims more bytes than were sent");
    answered = true;
    return a.data;
  }

  async function onceRecords(records: WireRecord[]): Promise<IngestAnswer> {
    const a = ingestAnswerSchema.safeParse(await send(commandsUrl, Buffer.from(JSON.stringify(records)), "application/json"));
    if (!a.success) throw new ServerUnreachable(`server answer is not an ingest answer: ${a.error.issues[0]!.path.join(".")} ${a.error.issues[0]!.message}`);
    answered = true;
    return a.data;
  }

  /** `attempt` with retries: exponential backoff and jitter, a 429's Retry-After as a floor, never past the budget. */
  async function retried<T>(attempt: () => Promise<T>): Promise<T> {
    let last: ServerUnreachable | undefined;
    for (let n = 0; n < cfg.run.attempts; n++) {
      if (n > 0) {
        const backoff = Math.min(cfg.run.backoff_ms * 2 ** (n - 1), 30_000) * (0.5 + Math.random());
        // A 429's Retry-After is a floor: sooner would only be refused again. Past the budget: no wait, exit 3.
        const wait = Math.max(backoff, last instanceof ServerBusy ? last.retryAfterMs ?? 0 : 0);
        if (Date.now() + wait > deadlineMs) break;
        await sleep(wait);
      }
      try {
        return await attempt();
      } catch (e) {
        if (!(e instanceof ServerUnreachable) || e instanceof BudgetUsedUp) throw e;
        last = e;
      }
    }
    // The retry loop stops at the deadline.
    throw last ?? new BudgetUsedUp("run budget used up before the request could be retried");
  }

  return {
    answered: () => answered,
    postRaw: (body, final, giveUp = false, redactions) => retried(() => once(body, final, giveUp, redactions)),
    postRecords: (records) => retried(() => onceRecords(records)),
  };
}

/** `Retry-After` as delay-seconds or an HTTP date, in ms from now; undefined when absent or not understood. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const h = header.trim();
  if (/^\d+$/.test(h)) return Number(h) * 1000;
  // An HTTP date names its day and zone ("Wed, 02 Dec 2026 12:00:30 GMT"); Date.parse alone would take "-5" as a year.
  const at = /[a-z]/i.test(h) ? Date.parse(h) : NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
