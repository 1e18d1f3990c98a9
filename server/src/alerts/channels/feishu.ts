/**
 * Feishu / Lark custom bots. With a signature secret: timestamp = seconds since the epoch (a string),
 * sign = base64(HMAC-SHA256(key = timestamp + "\n" + secret, an empty message)), both in the body.
 * Success is `code: 0` in the body (bots made before 2020 answer `StatusCode: 0`).
 */
import { createHmac } from "node:crypto";
import type { Channel } from "./channel.ts";
import type { ChannelConfigOf } from "./config.ts";
import { FEISHU_TEXT, renderAlert, utf8Bytes } from "./format.ts";
import { expectZeroCode, type Fetch, httpTarget, postJson } from "./http.ts";
import { inlineOrFirstLine, webhookUrl } from "./secrets.ts";

/** Feishu takes request bodies up to 20 KB; the text leaves room for the rest and for JSON escapes. */
const FEISHU_TEXT_BYTES = 12 * 1024;

export function feishuSign(secret: string, timestampSeconds: string): string {
  return createHmac("sha256", `${timestampSeconds}\n${secret}`).update("").digest("base64");
}

export function feishuChannel(cfg: ChannelConfigOf<"feishu">, fetch: Fetch): Channel {
  const secret = inlineOrFirstLine(cfg.name, "secret", cfg.secret, cfg.secret_file);
  const target = httpTarget(cfg, webhookUrl(cfg.name, cfg.url, cfg.url_file), fetch, [secret]);
  return {
    name: cfg.name,
    type: cfg.type,
    minSeverity: cfg.min_severity,
    async send(m, signal) {
      const content = { text: renderAlert(m, FEISHU_TEXT, FEISHU_TEXT_BYTES, utf8Bytes) };
      const timestamp = String(Math.floor(Date.now() / 1000));
      const signing = secret === undefined ? {} : { timestamp, sign: feishuSign(secret, timestamp) };
      const body = JSON.stringify({ ...signing, msg_type: "text", content });
      expectZeroCode(target, await postJson(target, body, {}, signal), [["code", "msg"], ["StatusCode", "StatusMessage"]]);
    },
  };
}
