/**
 * Where alerts are delivered: one entry per channel, its `type` choosing the rest of its keys. Secrets
 * (tokens, webhook URLs that hold one, passwords) are given inline or as `<key>_file`, the first line
 * of a file read when the channels are created (secrets.ts). Messages name keys, never values.
 */
import { hostname } from "node:os";
import { z } from "zod";
import { SEVERITIES } from "../rules.ts";

export const FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10,
  ftp: 11, ntp: 12, audit: 13, alert: 14, clock: 15,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
} as const;
export type Facility = keyof typeof FACILITIES;

export const WEBHOOK_SECRET_MIN = 16;

export const isHttpUrl = (s: string): boolean => {
  try {
    const u = new URL(s);
    return (u.protocol === "http:" || u.protocol === "https:") && u.username === "" && u.password === "";
  } catch {
    return false;
  }
};

/** Loopback: the only place AUTH may go in clear text (a local relay). */
export const isLoopbackHost = (host: string): boolean =>
  host === "localhost" || host === "::1" || /^127(?:\.\d{1,3}){3}$/.test(host);

/** The port of a syslog address (host:port, [IPv6]:port). */
export const syslogPort = (address: string): number => Number(address.slice(address.lastIndexOf(":") + 1));

const httpUrl = z.string().refine(isHttpUrl, { error: "must be an http:// or https:// URL (without user:password@)" });
const filePath = z.string().min(1);
const secret = z.string().min(1);

const common = {
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, { error: "a channel name holds a-z 0-9 . _ - (1-64 characters, lower case)" }),
  min_severity: z.enum(SEVERITIES).default("warning"),
  timeout_seconds: z.number().int().min(1).max(120).default(10),
};

/**
 * `key` and `key_file`: never both; one of them when `required`. Checked after the object's own keys,
 * and reported at `key_file` (or `key` when neither is there).
 */
function inlineOrFile(key: string, required: boolean) {
  return (c: Record<string, unknown>, ctx: z.core.$RefinementCtx) => {
    const inline = c[key] !== undefined;
    const file = c[`${key}_file`] !== undefined;
    if (inline && file) ctx.addIssue({ code: "custom", path: [`${key}_file`], message: `give ${key} or ${key}_file, not both` });
    else if (required && !inline && !file) ctx.addIssue({ code: "custom", path: [key], message: `give ${key} or ${key}_file` });
  };
}

const webhook = z.strictObject({
  ...common,
  type: z.literal("webhook"),
  url: httpUrl,
  /** HMAC-SHA256 key of X-Cmdaudit-Signature; none: requests are not signed. */
  secret: z.string().min(WEBHOOK_SECRET_MIN, { error: `a webhook secret must be at least ${WEBHOOK_SECRET_MIN} characters` }).optional(),
  secret_file: filePath.optional(),
}).superRefine(inlineOrFile("secret", false));

/** Chat robots whose webhook URL is their credential (the token is in it). */
const robotUrl = { url: httpUrl.optional(), url_file: filePath.optional() };

const slack = z.strictObject({ ...common, type: z.literal("slack"), ...robotUrl })
  .superRefine(inlineOrFile("url", true));

const dingtalk = z.strictObject({
  ...common,
  type: z.literal("dingtalk"),
  ...robotUrl,
  /** The robot's signing secret ("加签", SEC...); none: the robot must be protected by keywords or IPs. */
  secret: secret.optional(),
  secret_file: filePath.optional(),
}).superRefine(inlineOrFile("url", true)).superRefine(inlineOrFile("secret", false));

const feishu = z.strictObject({
  ...common,
  type: z.literal("feishu"),
  ...robotUrl,
  /** The bot's signature secret; none: the bot must be protected by keywords or IPs. */
  secret: secret.optional(),
  secret_file: filePath.optional(),
}).superRefine(inlineOrFile("url", true)).superRefine(inlineOrFile("secret", false));

const wecom = z.strictObject({ ...common, type: z.literal("wecom"), ...robotUrl })
  .superRefine(inlineOrFile("url", true));

const email = z.email({ error: "must be an e-mail address (local@domain)" });

const smtp = z.strictObject({
  ...common,
  type: z.literal("smtp"),
  host: z.string().regex(/^(?:[A-Za-z0-9.-]{1,253}|[0-9A-Fa-f:.]{2,45})$/, { error: "host is a host name or an IP address" }),
  port: z.number().int().min(1).max(65535).default(25),
  /** none: clear text; starttls: upgrade after EHLO, refused when the server does not offer it; implicit: TLS from the start (port 465). */
  tls: z.enum(["none", "starttls", "implicit"]).default("starttls"),
  /** PEM certificates to trust instead of the system's (a private CA). */
  ca_file: filePath.optional(),
  username: z.string().min(1).max(256).optional(),
  password: secret.optional(),
  password_file: filePath.optional(),
  from: email,
  to: z.array(email).min(1).max(50),
  helo: z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, { error: "helo is a host name (A-Z a-z 0-9 . -)" }).default(() => heloName()),
}).superRefine((c, ctx) => {
  if (c.username === undefined) {
    if (c.password !== undefined || c.password_file !== undefined) ctx.addIssue({ code: "custom", path: ["username"], message: "a password needs a username" });
    return;
  }
  inlineOrFile("password", true)(c, ctx);
  if (c.tls === "none" && !isLoopbackHost(c.host)) {
    ctx.addIssue({ code: "custom", path: ["tls"], message: "AUTH sends the password: use tls starttls or implicit (or a relay on the loopback)" });
  }
});

const syslog = z.strictObject({
  ...common,
  type: z.literal("syslog"),
  /** host:port, or [IPv6]:port. */
  address: z.string().regex(/^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):\d{1,5}$/, { error: "address is host:port (or [IPv6]:port)", abort: true })
    .refine((a) => syslogPort(a) >= 1 && syslogPort(a) <= 65535, { error: "the port must be 1-65535" }),
  protocol: z.enum(["udp", "tcp"]).default("udp"),
  facility: z.enum(Object.keys(FACILITIES) as [Facility, ...Facility[]]).default("authpriv"),
  /** RFC 5424 APP-NAME: 1-48 printable ASCII characters, no space. */
  app_name: z.string().regex(/^[!-~]{1,48}$/, { error: "app_name is 1-48 printable ASCII characters without spaces" }).default("cmdaudit"),
});

const CHANNELS = [webhook, slack, dingtalk, feishu, wecom, smtp, syslog] as const;
const CHANNEL_TYPES = CHANNELS.map((c) => c.shape.type.value);

export const channelSchema = z.discriminatedUnion("type", CHANNELS, {
  error: (issue) => (issue.code === "invalid_union" ? `one of ${CHANNEL_TYPES.join(", ")}` : undefined),
});
export type ChannelConfig = z.infer<typeof channelSchema>;
export type ChannelConfigOf<T extends ChannelConfig["type"]> = Extract<ChannelConfig, { type: T }>;

/** A list of channels, each name once. */
export const channelListSchema = z.array(channelSchema).max(100)
  .refine((cs) => new Set(cs.map((c) => c.name)).size === cs.length, { error: "two channels have one name" });

/** EHLO's argument by default: this machine's name, if it is one EHLO takes. */
function heloName(): string {
  const name = hostname();
  return /^[A-Za-z0-9.-]{1,253}$/.test(name) ? name : "localhost";
}
