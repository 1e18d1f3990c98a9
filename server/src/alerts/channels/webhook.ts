/**
 * The generic webhook: the whole AlertMessage as JSON, signed when a secret is set. A receiver checks
 * X-Cmdaudit-Signature = "sha256=" + hex HMAC-SHA256(secret, X-Cmdaudit-Timestamp + "." + body),
 * refuses old timestamps, and drops a repeated X-Cmdaudit-Delivery (a retry whose answer was lost).
 */
import { createHmac } from "node:crypto";
import type { Channel } from "./channel.ts";
import { type ChannelConfigOf, WEBHOOK_SECRET_MIN } from "./config.ts";
import { expect2xx, type Fetch, httpTarget, postJson } from "./http.ts";
import { inlineOrFirstLine } from "./secrets.ts";

export const WEBHOOK_VERSION = 1;

export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

export function webhookChannel(cfg: ChannelConfigOf<"webhook">, fetch: Fetch): Channel {
  const secret = inlineOrFirstLine(cfg.name, "secret", cfg.secret, cfg.secret_file, WEBHOOK_SECRET_MIN);
  const target = httpTarget(cfg, cfg.url, fetch, [secret]);
  return {
    name: cfg.name,
    type: cfg.type,
    minSeverity: cfg.min_severity,
    async send(m, signal) {
      const body = JSON.stringify({ version: WEBHOOK_VERSION, ...m });
      const timestamp = String(Math.floor(Date.now() / 1000));
      const headers: Record<string, string> = { "X-Cmdaudit-Delivery": m.deliveryId, "X-Cmdaudit-Timestamp": timestamp };
      if (secret !== undefined) headers["X-Cmdaudit-Signature"] = webhookSignature(secret, timestamp, body);
      expect2xx(target, await postJson(target, body, headers, signal));
    },
  };
}
