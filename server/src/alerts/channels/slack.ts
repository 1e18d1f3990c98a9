/** Slack incoming webhooks: the URL is the credential; the answer is "ok" with a 2xx. */
import type { Channel } from "./channel.ts";
import type { ChannelConfigOf } from "./config.ts";
import { renderAlert, SLACK } from "./format.ts";
import { expect2xx, type Fetch, httpTarget, postJson } from "./http.ts";
import { webhookUrl } from "./secrets.ts";

/** Slack shows a message's text in full up to here (its hard limit is far above). */
const SLACK_TEXT_CHARS = 3000;

export function slackChannel(cfg: ChannelConfigOf<"slack">, fetch: Fetch): Channel {
  const target = httpTarget(cfg, webhookUrl(cfg.name, cfg.url, cfg.url_file), fetch, []);
  return {
    name: cfg.name,
    type: cfg.type,
    minSeverity: cfg.min_severity,
    async send(m, signal) {
      const body = JSON.stringify({ text: renderAlert(m, SLACK, SLACK_TEXT_CHARS) });
      expect2xx(target, await postJson(target, body, {}, signal));
    },
  };
}
