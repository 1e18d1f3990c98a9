/**
 * What replaces a secret: `[REDACTED:<rule-id>:<fp>]`, fp = the first 12 hex digits of
 * HMAC-SHA256(per-deployment key, the secret's bytes). The same secret gives the same fp on every
 * host of one deployment, so an auditor sees reuse without seeing the value; without the key, the fp
 * cannot be used to test guesses.
 */

/** Rule ids: lower-case letters, digits, `.` and `-`, 1-64 characters. */
export const RULE_ID = /^[a-z0-9][a-z0-9.-]{0,63}$/;

/** How every marker begins: a text without it holds none. */
export const MARKER_START = "[REDACTED:";

/** Every marker in a text (global: reset lastIndex, or use matchAll). */
export const MARKER_PATTERN = /\[REDACTED:[a-z0-9][a-z0-9.-]{0,63}:[0-9a-f]{12}\]/g;

export const FINGERPRINT_HEX = 12;

/** The keyed fingerprint of a secret: strings (key or value) are taken as UTF-8, bytes as they are. */
export function fingerprint(key: string | Uint8Array, value: string | Uint8Array): string {
  // Bun's hasher makes the same HMAC-SHA256 in half the time of node:crypto's createHmac.
  return new Bun.CryptoHasher("sha256", key).update(value).digest("hex").slice(0, FINGERPRINT_HEX);
}

export function marker(ruleId: string, fp: string): string {
  return `[REDACTED:${ruleId}:${fp}]`;
}
