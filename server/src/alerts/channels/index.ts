/** Channels from their config: secrets and CA files are read here, once, when the server starts. */
import { ConfigError } from "../../../../protocol/config-file.ts";
import type { Channel } from "./channel.ts";
import type { ChannelConfig } from "./config.ts";
import { dingtalkChannel } from "./dingtalk.ts";
import { feishuChannel } from "./feishu.ts";
import { slackChannel } from "./slack.ts";
import { smtpChannel } from "./smtp.ts";
import { syslogChannel } from "./syslog.ts";
import { webhookChannel } from "./webhook.ts";
import { wecomChannel } from "./wecom.ts";

export interface ChannelDeps {
  /** For the HTTP channels; the global fetch by default. */
  fetch?: typeof fetch;
}

/** A channel ready to send; throws a ConfigError when a secret file or CA file cannot be read. */
export function createChannel(cfg: ChannelConfig, opts: ChannelDeps = {}): Channel {
  const doFetch = opts.fetch ?? fetch;
  switch (cfg.type) {
    case "webhook": return webhookChannel(cfg, doFetch);
    case "slack": return slackChannel(cfg, doFetch);
    case "dingtalk": return dingtalkChannel(cfg, doFetch);
    case "feishu": return feishuChannel(cfg, doFetch);
    case "wecom": return wecomChannel(cfg, doFetch);
    case "smtp": return smtpChannel(cfg);
    case "syslog": return syslogChannel(cfg);
  }
}

export function createChannels(cfgs: readonly ChannelConfig[], opts: ChannelDeps = {}): Channel[] {
  const seen = new Set<string>();
  for (const c of cfgs) {
    if (seen.has(c.name)) throw new ConfigError(`two channels are named ${c.name}`);
    seen.add(c.name);
  }
  return cfgs.map((c) => createChannel(c, opts));
}
