/** Mail: one message per alert, one connection per message (alerts are few; a held connection would time out between them). */
import type { Channel } from "./channel.ts";
import type { ChannelConfigOf } from "./config.ts";
import { alertTitle, PLAIN, renderAlert } from "./format.ts";
import { buildMail } from "./mime.ts";
import { inlineOrFirstLine, pemFile } from "./secrets.ts";
import { sendMail, type SmtpServer } from "./smtp-client.ts";

/** The delivery id as the left part of a Message-ID (dot-atom text only); the same on every retry, so readers show one message. */
const messageIdPart = (deliveryId: string) => deliveryId.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 200) || "alert";

export function smtpChannel(cfg: ChannelConfigOf<"smtp">): Channel {
  const password = inlineOrFirstLine(cfg.name, "password", cfg.password, cfg.password_file);
  const server: SmtpServer = {
    host: cfg.host,
    port: cfg.port,
    tls: cfg.tls,
    helo: cfg.helo,
    ...(cfg.ca_file ? { ca: pemFile(cfg.name, "ca_file", cfg.ca_file) } : {}),
    ...(cfg.username !== undefined && password !== undefined ? { auth: { username: cfg.username, password } } : {}),
  };
  const label = `${cfg.type} channel ${cfg.name}`;
  return {
    name: cfg.name,
    type: cfg.type,
    minSeverity: cfg.min_severity,
    async send(m, signal) {
      const message = buildMail({
        from: cfg.from,
        to: cfg.to,
        subject: alertTitle(m),
        date: new Date(Math.floor(m.raisedUs / 1000)),
        messageId: `${messageIdPart(m.deliveryId)}@cmdaudit`,
        body: renderAlert(m, PLAIN),
      });
      await sendMail(server, { from: cfg.from, to: cfg.to }, message, label, cfg.timeout_seconds * 1000, signal);
    },
  };
}
