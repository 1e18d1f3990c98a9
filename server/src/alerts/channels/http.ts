/**
 * One POST of a JSON body for the HTTP channels: redirects refused (a redirect could carry the
 * token elsewhere, and is not an answer), bounded by the channel's timeout and the caller's signal,
 * and every failure a ChannelError that names neither the URL nor a secret.
 */
import { ChannelError } from "./channel.ts";

export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

export interface HttpTarget {
  /** "<type> channel <name>", the start of every error message. */
  label: string;
  url: string;
  timeoutMs: number;
  fetch: Fetch;
  /** Values that must not reach a message: signing secrets (the URL and its parts are added here). */
  secrets: string[];
}

/** A channel's target: its URL, its timeout, and what its messages must not show. */
export function httpTarget(cfg: { type: string; name: string; timeout_seconds: number }, url: string, fetch: Fetch, secrets: (string | undefined)[]): HttpTarget {
  return { label: `${cfg.type} channel ${cfg.name}`, url, timeoutMs: cfg.timeout_seconds * 1000, fetch, secrets: secrets.filter((s): s is string => !!s) };
}

export interface HttpAnswer {
  status: number;
  /** At most MAX_ANSWER_BYTES of the body. */
  text: string;
}

const MAX_ANSWER_BYTES = 64 * 1024;
const SNIPPET_CHARS = 200;

/** What may be quoted of an answer: its start, on one line, with any secret taken out. */
export function snippet(text: string, secrets: readonly string[]): string {
  return redact(text, secrets).slice(0, SNIPPET_CHARS).replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
}

function redact(text: string, secrets: readonly string[]): string {
  return secrets.reduce((t, s) => (s ? t.replaceAll(s, "[redacted]") : t), text);
}

/** The URL, and the parts of it that are tokens (query values, the path), as secrets. */
export function urlSecrets(url: string): string[] {
  const u = new URL(url);
  const parts = [url, u.pathname.length > 1 ? u.pathname : "", ...[...u.searchParams.values()].filter((v) => v.length >= 8)];
  return parts.filter(Boolean);
}

export async function postJson(t: HttpTarget, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<HttpAnswer> {
  // Longest first: a secret that holds another is taken out whole.
  const secrets = [...t.secrets, ...urlSecrets(t.url)].sort((a, b) => b.length - a.length);
  const timeout = AbortSignal.timeout(t.timeoutMs);
  const both = AbortSignal.any([signal, timeout]);
  const failed = (e: unknown): ChannelError => {
    if (timeout.aborted) return new ChannelError(`${t.label}: no answer within ${t.timeoutMs / 1000} s`);
    if (signal.aborted) return new ChannelError(`${t.label}: sending was cancelled`);
    // Only the error's code or class: its message can quote the URL.
    const code = (e as { code?: unknown } | null)?.code;
    return new ChannelError(`${t.label}: the request failed (${typeof code === "string" ? code : (e as Error | undefined)?.name ?? "error"})`);
  };
  let res: Response;
  try {
    res = await t.fetch(t.url, { method: "POST", body, headers: { "Content-Type": "application/json", ...headers }, redirect: "manual", signal: both });
  } catch (e) {
    throw failed(e);
  }
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel().catch(() => {});
    throw new ChannelError(`${t.label}: answered with a redirect (HTTP ${res.status}), which is not followed`);
  }
  let text: string;
  try {
    text = await readCapped(res, MAX_ANSWER_BYTES);
  } catch (e) {
    throw failed(e);
  }
  return { status: res.status, text: redact(text, secrets) };
}

async function readCapped(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (total < maxBytes) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    total += value.byteLength;
  }
  if (total >= maxBytes) await reader.cancel().catch(() => {});
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, maxBytes));
}

/** A 2xx, or a ChannelError with the status and the start of the answer. */
export function expect2xx(t: HttpTarget, a: HttpAnswer): void {
  if (a.status < 200 || a.status > 299) throw new ChannelError(`${t.label}: HTTP ${a.status}: ${snippet(a.text, t.secrets)}`);
}

/**
 * The JSON answer of a chat robot that says "ok" with a zero code in its body (HTTP 200 alone is not
 * success: DingTalk, Feishu and WeCom answer 200 to a bad signature). `keys`: the [code, message]
 * names a provider uses; the first pair whose code is in the body is read.
 */
export function expectZeroCode(t: HttpTarget, a: HttpAnswer, keys: readonly (readonly [string, string])[]): void {
  if (a.status !== 200) throw new ChannelError(`${t.label}: HTTP ${a.status}: ${snippet(a.text, t.secrets)}`);
  let body: unknown;
  try {
    body = JSON.parse(a.text);
  } catch {
    throw new ChannelError(`${t.label}: the answer is not JSON: ${snippet(a.text, t.secrets)}`);
  }
  const fields = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  const pair = keys.find(([code]) => code in fields);
  if (!pair) throw new ChannelError(`${t.label}: the answer holds no ${keys.map(([code]) => code).join(" or ")}: ${snippet(a.text, t.secrets)}`);
  const [codeKey, messageKey] = pair;
  if (fields[codeKey] !== 0) {
    throw new ChannelError(`${t.label}: ${codeKey} ${snippet(String(fields[codeKey]), t.secrets)}, ${messageKey} ${snippet(String(fields[messageKey] ?? ""), t.secrets)}`);
  }
}
