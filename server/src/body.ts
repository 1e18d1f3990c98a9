import { gunzipSync } from "node:zlib";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";

const tooLarge = (max: number) => new HTTPException(413, { message: `request body is larger than ${max} bytes` });

/**
 * The request body as bytes, gzip-decoded, never more than `max` bytes
 * before or after decompression (a gzip bomb stops at the limit).
 */
export async function readBody(c: Context, max: number): Promise<Buffer> {
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
  try {
    return gunzipSync(raw, { maxOutputLength: max });
  } catch (e) {
    if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") throw tooLarge(max);
    throw new HTTPException(400, { message: "request body is not valid gzip" });
  }
}
