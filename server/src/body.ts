import { gunzipSync } from "node:zlib";
import type { Context } from "hono";
import { getConnInfo } from "hono/bun";
import { HTTPException } from "hono/http-exception";
import { MAX_COMMAND_BYTES, MAX_RECORDS_PER_BODY } from "../../protocol/limits.ts";
import type { AppDeps } from "./app.ts";
import { presentedToken } from "./auth.ts";
import { IngestRateLimiter } from "./rate-limit.ts";

/**
 * A gzip body may always inflate to this, whatever its ratio: one record with the largest command,
 * as both log formats escape it (a command of newlines doubles), highly compressible or not.
 */
export const GZIP_FLOOR_BYTES = 4 * MAX_COMMAND_BYTES;

class TooLarge extends HTTPException {
  /** `inflated`: the bytes gunzip produced before it was stopped. */
  constructor(message: string, readonly inflated = 0) {
    super(413, { message });
  }
}
const tooLarge = (max: number, inflated = 0) => new TooLarge(`request body is larger than ${max} bytes`, inflated);

/**
 * The request body as bytes, gzip-decoded, never more than `max` bytes
 * before or after decompression (a gzip bomb stops at the limit). A gzip body
 * also stops at `maxGzipRatio` times its own size (at least GZIP_FLOOR_BYTES):
 * inflating and parsing cost stay in proportion to the bytes sent.
 */
export async function readBody(c: Context, max: number, maxGzipRatio = Infinity): Promise<Buffer> {
  const declared = Number(c.req.header("content-length") ?? "NaN");
  if (declared > max) throw tooLarge(max);
  const parts: Uint8Array[] = [];
  let n = 0;
  const body = c.req.raw.body;
  if (body) {
    for await (const chunk of body) {
      n += chunk.length;
      if (n > max) throw tooLarge(max);
      parts.push(chunk);
    }
  }
  const raw = Buffer.concat(parts, n);
  const enc = (c.req.header("content-encoding") ?? "identity").trim().toLowerCase();
  if (enc === "identity" || enc === "") return raw;
  if (enc !== "gzip") throw new HTTPException(415, { message: `unsupported Content-Encoding ${JSON.stringify(enc.slice(0, 40))} (use gzip or none)` });
  const byRatio = Math.max(GZIP_FLOOR_BYTES, maxGzipRatio * n);
  const limit = Math.min(max, byRatio);
  try {
    return gunzipSync(raw, { maxOutputLength: limit });
  } catch (e) {
    if ((e as { code?: string }).code !== "ERR_BUFFER_TOO_LARGE") throw new HTTPException(400, { message: "request body is not valid gzip" });
    if (limit === max) throw tooLarge(max, limit);
    throw new TooLarge(`gzip body of ${n} bytes inflates to more than ${maxGzipRatio} times its size (limits.max_gzip_ratio; `
      + `at least ${GZIP_FLOOR_BYTES} bytes are always allowed): send it uncompressed or split it`, limit);
  }
}

/**
 * Whose bucket a request takes: a host token's host (its generations share one), or for a shared
 * token the token and the client's address: a fleet on one token is many hosts, each with its own
 * rate (behind a proxy they share the proxy's).
 */
function limitKey(c: Context): string {
  // Authentication ran first: the identity is set and the token valid.
  const id = c.get("identity");
  if (id.kind === "host") return `host\n${id.host}`;
  let address = "";
  try {
    address = getConnInfo(c).remote.address ?? "";
  } catch {
    // No socket behind the request (app.request() in tests): the token alone.
  }
  return `shared\n${presentedToken((name) => c.req.header(name)) ?? ""}\n${address}`;
}

/**
 * An ingest request's body (readBody under the config's limits), rate-limited per presented token:
 * a token out of requests or bytes gets 429 with Retry-After before its body is read; the body's
 * decompressed bytes are charged (a refused bomb's too). `maxLines`: a body of more lines is
 * refused (413) before anything parses them, each line having a cost of its own.
 */
export async function readIngestBody(c: Context, deps: Pick<AppDeps, "config" | "ingestLimiter">, opts: { maxLines?: boolean } = {}): Promise<Buffer> {
  const { limits } = deps.config;
  const limiter = deps.ingestLimiter;
  const key = IngestRateLimiter.key(limitKey(c));
  const refusal = limiter.admit(key);
  if (refusal) {
    c.header("Retry-After", String(refusal.retryAfterSeconds));
    throw new HTTPException(429, {
      message: `this token reached ${refusal.key} (${refusal.limit}); retry after ${refusal.retryAfterSeconds} s`,
    });
  }
  let body: Buffer;
  try {
    body = await readBody(c, limits.max_body_bytes, limits.max_gzip_ratio);
  } catch (e) {
    if (e instanceof TooLarge) limiter.charge(key, e.inflated);
    throw e;
  }
  limiter.charge(key, body.length);
  if (opts.maxLines) {
    // The reporters send at most MAX_RECORDS_PER_BODY lines a body; the hook writes an empty line before
    // each of its own (LF first), so twice that. Empty lines cost a parse too: they count.
    const max = 2 * Math.max(limits.max_records_per_batch, MAX_RECORDS_PER_BODY);
    let lines = 0;
    for (let at = body.indexOf(0x0a); at >= 0; at = body.indexOf(0x0a, at + 1)) {
      if (++lines > max) throw new HTTPException(413, { message: `body has more than ${max} lines` });
    }
  }
  return body;
}
