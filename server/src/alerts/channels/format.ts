/**
 * The one text of an alert, in the markup of each place it goes: plain (mail body, Feishu text),
 * Slack mrkdwn, and the Markdown of DingTalk and WeCom robots.
 *
 * Everything taken from a record (command, host name, user names) is the audited user's to choose, so
 * it is shown as text and never read as markup: control characters are made visible, values sit in
 * code spans that cannot be closed, and the characters that open a link, a tag or a mention are
 * escaped (Slack) or swapped for look-alikes (where a robot documents no escaping). Every mention
 * syntax of these providers needs `<` (Slack `<!channel>`, WeCom `<@id>`, Feishu `<at>`) or a body
 * field we never set (DingTalk `at.isAtAll`), so a typed `@all` stays plain text.
 */
import type { AlertMessage } from "./channel.ts";

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\u001b": "\\e" };

/** `s` with control, line-separator and bidi-override characters written as escapes: what is shown is what was typed. */
export function visible(s: string): string {
  return s.replace(CONTROL, (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

interface Markup {
  /** A value from the record or config, inline: a name, set apart. */
  value(s: string): string;
  /** Free text from the config (a rule's description). */
  text(s: string): string;
  /** One line of the command. */
  commandLine(s: string): string;
  /** Our own emphasis (severity). */
  strong(s: string): string;
  link(url: string, label: string): string;
  /** Between the parts of the message. */
  paragraph: string;
  /** Between the lines of the command. */
  commandBreak: string;
  commandStart: string;
  commandEnd: string;
}

// Swapped rather than escaped where a provider documents no escape: a backslash could be shown as is.
const lookAlike = (s: string) => s.replace(/[`<>[\]]/g, (c) => ({ "`": "ˋ", "<": "＜", ">": "＞", "[": "［", "]": "］" })[c]!);
const slackEscape = (s: string) => s.replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]!);
/** A console link as a link: http(s) and printable ASCII only (a URL is percent-encoded). */
const httpOnly = (url: string) => (/^https?:\/\/[!-~]+$/.test(url) ? url : undefined);

export const PLAIN: Markup = {
  value: visible,
  text: visible,
  commandLine: (s) => `    ${visible(s)}`,
  strong: (s) => s,
  link: (url, label) => `${label}: ${visible(url)}`,
  paragraph: "\n",
  commandBreak: "\n",
  commandStart: "",
  commandEnd: "",
};

/** Feishu text messages: plain, but `<at user_id="all">` in the text is a mention. */
export const FEISHU_TEXT: Markup = {
  ...PLAIN,
  value: (s) => lookAlike(visible(s)),
  text: (s) => lookAlike(visible(s)),
  commandLine: (s) => `    ${lookAlike(visible(s))}`,
  link: (url, label) => `${label}: ${lookAlike(visible(url))}`,
};

/** Slack mrkdwn: `&`, `<`, `>` as entities (Slack's own rule); values in code spans. */
export const SLACK: Markup = {
  value: (s) => `\`${slackEscape(visible(s).replaceAll("`", "ˋ"))}\``,
  text: (s) => slackEscape(visible(s)),
  commandLine: (s) => slackEscape(visible(s).replaceAll("`", "ˋ")),
  strong: (s) => `*${s}*`,
  link: (url, label) => {
    const safe = httpOnly(url);
    return safe ? `<${slackEscape(safe).replaceAll("|", "%7C")}|${label}>` : `${label}: ${SLACK.value(url)}`;
  },
  paragraph: "\n",
  commandBreak: "\n",
  commandStart: "```\n",
  commandEnd: "\n```",
};

/**
 * DingTalk and WeCom robot Markdown: neither documents escapes nor fenced blocks (WeCom has inline
 * code only), so each value and each command line is an inline code span holding no backtick, and
 * the characters of links and tags are look-alikes.
 */
export const ROBOT_MARKDOWN: Markup = {
  value: (s) => `\`${lookAlike(visible(s))}\``,
  text: (s) => lookAlike(visible(s)),
  commandLine: (s) => `\`${lookAlike(visible(s))}\``,
  strong: (s) => `**${s}**`,
  link: (url, label) => {
    const safe = httpOnly(url);
    return safe ? `[${label}](${safe.replace(/[()<>[\]`]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)})` : `${label}: ${ROBOT_MARKDOWN.value(url)}`;
  },
  // DingTalk starts a new line only at a blank line (or two trailing spaces); WeCom at either.
  paragraph: "\n\n",
  commandBreak: "\n\n",
  commandStart: "",
  commandEnd: "",
};

const SEVERITY_LABEL = { info: "INFO", warning: "WARNING", critical: "CRITICAL" } as const;

export const utcIso = (us: number): string => new Date(Math.floor(us / 1000)).toISOString();

/** One line: the subject of a mail, the title of a robot message. Plain text, control characters visible. */
export function alertTitle(m: AlertMessage): string {
  const more = m.kind === "repeat" ? ` (${m.count} more)` : "";
  return `[cmdaudit] ${m.severity} ${visible(m.ruleId)} on ${visible(m.hostname)}${more}`;
}

function who(m: AlertMessage, mk: Markup): string {
  return m.luser === m.suser || m.luser === "" ? `user ${mk.value(m.suser)}` : `user ${mk.value(m.suser)} (logged in as ${mk.value(m.luser)})`;
}

function windowLine(m: AlertMessage, mk: Markup): string | undefined {
  const until = utcIso(m.windowEndUs);
  if (m.kind === "repeat") return `${m.count} more in the window until ${until}`;
  return m.count > 1 ? `and ${m.count - 1} more in the window until ${until}` : undefined;
}

function render(m: AlertMessage, mk: Markup, command: string): string {
  const heading = mk.strong(SEVERITY_LABEL[m.severity]) + (m.kind === "repeat" ? " (repeated)" : "");
  const parts = [`${heading} ${mk.value(m.ruleId)} on ${mk.value(m.hostname)}, ${who(m, mk)}`];
  if (m.description) parts.push(mk.text(m.description));
  if (command) {
    const lines = command.split("\n").map(mk.commandLine).join(mk.commandBreak);
    parts.push(`${m.kind === "repeat" ? "Last command" : "Command"}:${mk.paragraph}${mk.commandStart}${lines}${mk.commandEnd}`);
    parts.push(`Ran at ${utcIso(m.recordTsUs)}`);
  } else {
    parts.push(`Last heard from at ${utcIso(m.recordTsUs)}`);
  }
  if (m.sessionId) parts.push(`Session ${mk.value(m.sessionId)}${m.seq === null ? "" : `, command #${m.seq}`}`);
  const window = windowLine(m, mk);
  if (window) parts.push(window);
  if (m.link) parts.push(mk.link(m.link, "Open in the console"));
  return parts.join(mk.paragraph);
}

const TRUNCATED = " …(truncated)";
export const utf8Bytes = (s: string): number => Buffer.byteLength(s, "utf8");

/**
 * The alert in `mk`, at most `limit` long as `size` measures it: the command is shortened first
 * (cut before escaping, so no escape is cut in two), then, should the rest still not fit, the text.
 */
export function renderAlert(m: AlertMessage, mk: Markup, limit = Infinity, size: (s: string) => number = (s) => s.length): string {
  const whole = render(m, mk, m.command);
  if (size(whole) <= limit) return whole;
  const chars = [...m.command];
  let lo = 0;
  let hi = chars.length - 1;
  let best = render(m, mk, TRUNCATED.trim());
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const text = render(m, mk, chars.slice(0, mid).join("") + TRUNCATED);
    if (size(text) <= limit) {
      best = text;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return size(best) <= limit ? best : cutToSize(best, limit, size);
}

function cutToSize(s: string, limit: number, size: (s: string) => number): string {
  const chars = [...s];
  while (chars.length && size(chars.join("") + "…") > limit) chars.length = Math.max(0, chars.length - Math.max(1, chars.length >> 4));
  return chars.join("") + "…";
}
