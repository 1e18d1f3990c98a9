/**
 * WeCom (企业微信) group robots. WeCom has no signing scheme: the `key` in the webhook URL is the
 * robot's only credential, so the URL is a secret (keep it in url_file). Success is `errcode: 0`.
 */
import type { Channel } from "./channel.ts";
import type { ChannelConfigOf } from "./config.ts";
import { renderAlert, ROBOT_MARKDOWN, utf8Bytes } from "./format.ts";
import { expectZeroCode, type Fetch, httpTarget, postJson } from "./http.ts";
import { webhookUrl } from "./secrets.ts";

const WECOM_MARKDOWN_BYTES = 4096;

export function wecomChannel(cfg: ChannelConfigOf<"wecom">, fetch: Fetch): Channel {
  const target = httpTarget(cfg, webhookUrl(cfg.name, cfg.url, cfg.url_file), fetch, []);
  return {
    name: cfg.name,
    type: cfg.type,
    minSeverity: cfg.min_severity,
    async send(m, signal) {
      const content = renderAlert(m, ROBOT_MARKDOWN, WECOM_MARKDOWN_BYTES, utf8Bytes);
      const body = JSON.stringify({ msgtype: "markdown", markdown: { content } });
      expectZeroCode(target, await postJson(target, body, {}, signal), [["errcode", "errmsg"]]);
    },
  };
}
