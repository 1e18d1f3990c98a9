/**
 * Per-host ingest tokens: `cah1.<generation>.<host>.<mac>`, where mac is the first 16 bytes (hex) of
 * HMAC-SHA256(tokens.host_key, "cmdaudit host token v1\n<generation>\n<host in lower case>").
 * The server keeps no token table: it recomputes the mac, so a token names the one host it may write
 * for, and nobody without the key can make one. Ansible computes the same value with the
 * `cmdaudit_host_token` filter (ansible/roles/cmdaudit_reporter/filter_plugins/cmdaudit.py).
 * A host's tokens are revoked by raising its generation in `tokens.host_generations` (or all of them by
 * a new key): only the configured generation is taken.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const HOST_TOKEN_PREFIX = "cah1";
/** Host names a token can carry: what `hostname` can hold on Linux that is safe in an HTTP header. */
export const HOST_TOKEN_HOST = /^[A-Za-z0-9._-]{1,253}$/;
const MAC_HEX = 32;
const SHAPE = new RegExp(`^${HOST_TOKEN_PREFIX}\\.(0|[1-9]\\d{0,8})\\.([A-Za-z0-9._-]{1,253})\\.([0-9a-f]{${MAC_HEX}})$`);

function mac(key: string, host: string, generation: number): Buffer {
  return createHmac("sha256", key).update(`cmdaudit host token v1\n${generation}\n${host.toLowerCase()}`).digest().subarray(0, MAC_HEX / 2);
}

/** The token of `host` at `generation` under `key`. */
export function hostToken(key: string, host: string, generation = 0): string {
  if (!HOST_TOKEN_HOST.test(host)) throw new Error("a host token's host name may hold only A-Z a-z 0-9 . _ - (1-253 characters)");
  if (!Number.isInteger(generation) || generation < 0 || generation > 999_999_999) throw new Error("generation must be an integer 0-999999999");
  return `${HOST_TOKEN_PREFIX}.${generation}.${host.toLowerCase()}.${mac(key, host, generation).toString("hex")}`;
}

export function looksLikeHostToken(presented: string): boolean {
  return presented.startsWith(`${HOST_TOKEN_PREFIX}.`);
}

/**
 * The host a presented token binds to (lower case), or undefined: a wrong mac, another generation than
 * the host's configured one (revoked), or not a host token. The mac comparison is constant-time.
 */
export function verifyHostToken(key: string, generations: Readonly<Record<string, number>>, presented: string): string | undefined {
  const m = SHAPE.exec(presented);
  if (!m) return undefined;
  const generation = Number(m[1]);
  const host = m[2]!.toLowerCase();
  const ok = timingSafeEqual(mac(key, host, generation), Buffer.from(m[3]!, "hex"));
  return ok && generation === (generations[host] ?? 0) ? host : undefined;
}
