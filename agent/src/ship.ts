/**
 * POST raw log bytes to the ingest server (`/api/v1/ingest/raw`): gzip, a timeout
 * per request, retries with exponential backoff and jitter inside the run's
 * budget. The server decodes the lines with the contract codec and answers how
 * many bytes of the body are settled (`consumed`); only that advances a checkpoint.
 */
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { z } from "zod";
import type { ReporterConfig } from "./config.ts";

export const VERSION = process.env.CMDAUDIT_REPORTER_VERSION ?? "dev";

const answerSchema = z.object({
  code: z.literal(0),
  accepted: z.number().int(),
  duplicates: z.number().int(),
  rejected: z.array(z.object({ line: z.number().int().optional(), error: z.string() })),
  ignored: z.number().int(),
  consumed: z.number().int().min(0),
});
export type RawAnswer = z.infer<typeof answerSchema>;

/** The server will not take this (bad token, forbidden, bad request): retrying cannot help. Exit 4. */
export class ServerRefused extends Error {}
/** No usable answer after every attempt (down, 5xx, timeout). Exit 3. */
export class ServerUnreachable extends Error {}
/** 413: the caller sends less. */
export class BodyTooLarge extends Error {}

export interface Shipper {
  postRaw(body: Uint8Array, final: boolean): Promise<RawAnswer>;
}

export function createShipper(cfg: ReporterConfig & { tokenValue: string }, utcOffset: string, deadlineMs: number, sleep = Bun.sleep): Shipper {
  const url = new URL("api/v1/ingest/raw", cfg.server.url.endsWith("/") ? cfg.server.url : cfg.server.url + "/");
  url.searchParams.set("utcOffset", utcOffset);
  const ca = cfg.server.ca_file ? readFileSync(cfg.server.ca_file, "utf8") : undefined;

  async function once(body: Uint8Array, final: boolean): Promise<RawAnswer> {
    const u = new URL(url);
    if (final) u.searchParams.set("final", "1");
    const headers: Record<string, string> = {
      AccessToken: cfg.tokenValue,
      "Content-Type": "text/plain; charset=utf-8",
      "User-Agent": `cmdaudit-reporter/${VERSION}`,
    };
    let payload: Uint8Array = body;
    if (cfg.batch.gzip && body.length > 512) {
      payload = gzipSync(body, { level: 1 });
      headers["Content-Encoding"] = "gzip";
    }
    let res: Response;
    try {
      res = await fetch(u, {
        method: "POST", headers, body: payload,
        signal: AbortSignal.timeout(cfg.server.timeout_seconds * 1000),
        ...(ca ? { tls: { ca } } : {}),
      });
    } catch (e) {
      const err = e as Error;
      throw new ServerUnreachable(err.name === "TimeoutError" ? `no answer within ${cfg.server.timeout_seconds} s` : `cannot reach ${u.origin}: ${err.message.slice(0, 200)}`);
    }
    const text = await res.text().catch(() => "");
    const msg = () => {
      try {
        return String((JSON.parse(text) as { msg?: unknown }).msg ?? "").slice(0, 200);
      } catch {
        return text.slice(0, 100);
      }
    };
    if (res.status === 413) throw new BodyTooLarge(`server: ${msg()}`);
    if (res.status === 401 || res.status === 403) throw new ServerRefused(`server refused the token (HTTP ${res.status}): ${msg()}`);
    if (res.status >= 400 && res.status < 500) throw new ServerRefused(`server refused the request (HTTP ${res.status}): ${msg()}`);
    if (res.status !== 200) throw new ServerUnreachable(`server answered HTTP ${res.status}: ${msg()}`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ServerUnreachable("server answered 200 without JSON");
    }
    const a = answerSchema.safeParse(json);
    if (!a.success) throw new ServerUnreachable(`server answer is not an ingest answer: ${a.error.issues[0]!.path.join(".")} ${a.error.issues[0]!.message}`);
    if (a.data.consumed > body.length) throw new ServerUnreachable("server answer claims more bytes than were sent");
    return a.data;
  }

  return {
    async postRaw(body, final) {
      let last: ServerUnreachable | undefined;
      for (let attempt = 0; attempt < cfg.run.attempts; attempt++) {
        if (attempt > 0) {
          const wait = Math.min(cfg.run.backoff_ms * 2 ** (attempt - 1), 30_000) * (0.5 + Math.random());
          if (Date.now() + wait > deadlineMs) break;
          await sleep(wait);
        }
        try {
          return await once(body, final);
        } catch (e) {
          if (!(e instanceof ServerUnreachable)) throw e;
          last = e;
        }
      }
      throw last ?? new ServerUnreachable("run budget used up before the request could be retried");
    },
  };
}
