/**
 * DingTalk custom robots. With a signing secret ("加签"): timestamp = ms since the epoch, sign =
 * base64(HMAC-SHA256(key = secret, timestamp + "\n" + secret)), both added to the URL's query.
 * DingTalk answers HTTP 200 to nearly everything: success is `errcode: 0` in the body.
 */
import { createHmac } from "node:crypto";
import type { Channel } from "./channel.ts";
import type { ChannelConfigOf } from "./config.ts";
import { alertTitle, renderAlert, ROBOT_MARKDOWN, utf8Bytes } from "./format.ts";
import { expectZeroCode, type Fetch, httpTarget, postJson } from "./http.ts";
import { inlineOrFirstLine, webhookUrl } from "./secrets.ts";

const DINGTALK_MARKDOWN_BYTES = 4096;

export function dingtalkSign(secret: string, timestampMs: string): string {
  return createHmac("sha256", secret).update(`${timestampMs}\n${secret}`).digest("base64");
}

/** The robot's URL with timestamp and sign added (URLSearchParams percent-encodes the base64's + / =). */
export function signedDingtalkUrl(url: string, secret: string, now = Date.now()): string {
  const u = new URL(url);
  const timestamp = String(now);
  u.searchParams.set("timestamp", timestamp);
  u.searchParams.set("sign", dingtalkSign(secret, timestamp));
  return u.toString();
}

export function dingtalkChannel(cfg: ChannelConfigOf<"dingtalk">, fetch: Fetch): Channel {
  const url = webhookUrl(cfg.name, cfg.url, cfg.url_file);
  const secret = inlineOrFirstLine(cfg.name, "secret", cfg.secret, cfg.secret_file);
  const target = httpTarget(cfg, url, fetch, [secret]);
  return {
    name: cfg.name,
    type: cfg.type,
    minSeverity: cfg.min_severity,
    async send(m, signal) {
      const text = renderAlert(m, ROBOT_MARKDOWN, DINGTALK_MARKDOWN_BYTES, utf8Bytes);
      const body = JSON.stringify({ msgtype: "markdown", markdown: { title: alertTitle(m), text } });
      const signed = { ...target, url: secret === undefined ? url : signedDingtalkUrl(url, secret) };
      expectZeroCode(target, await postJson(signed, body, {}, signal), [["errcode", "errmsg"]]);
    },
  };
}
