/**
 * An alert as an Internet message (RFC 5322 + MIME): 7-bit clean, CRLF line ends, every line under
 * 998 octets. No value can start a header of its own: header values lose their control characters
 * and are folded only here, and the body is quoted-printable (a line starting with "." is left to the
 * SMTP client's dot-stuffing, where it belongs).
 */

export interface Mail {
  from: string;
  to: readonly string[];
  subject: string;
  date: Date;
  /** Without the angle brackets: local@domain. */
  messageId: string;
  body: string;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** RFC 5322 date-time in UTC: "Tue, 02 Jan 2024 03:04:05 +0000". */
export function mailDate(d: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f]+/g, " ");

/**
 * A header value as is when it is short printable ASCII that a reader could not take for an encoded
 * word; otherwise RFC 2047 encoded words (UTF-8, base64), one per line.
 */
export function encodeHeaderText(value: string): string {
  const text = oneLine(value);
  if (/^[\x20-\x7e]*$/.test(text) && !text.includes("=?") && text.length <= 900) return text;
  const words: string[] = [];
  let chunk = "";
  for (const ch of text) {
    // 36 bytes of UTF-8 are 48 base64 characters, a word of 60: with "Subject: " before it, a line of 69 (RFC 2047: at most 76).
    if (Buffer.byteLength(chunk + ch) > 36) {
      words.push(chunk);
      chunk = "";
    }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, "utf8").toString("base64")}?=`).join("\r\n ");
}

/** Quoted-printable (RFC 2045 6.7) of UTF-8 text; its "\n" become hard line breaks. */
export function quotedPrintable(text: string): string {
  return text.split("\n").map(encodeQpLine).join("\r\n");
}

function encodeQpLine(line: string): string {
  const bytes = Buffer.from(line, "utf8");
  let out = "";
  let width = 0;
  bytes.forEach((b, i) => {
    const last = i === bytes.length - 1;
    const literal = (b >= 33 && b <= 126 && b !== 61) || ((b === 32 || b === 9) && !last);
    const token = literal ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, "0")}`;
    // A soft break ("=" at the end) keeps every line at 76 characters or less.
    if (width + token.length > 75) {
      out += "=\r\n";
      width = 0;
    }
    out += token;
    width += token.length;
  });
  return out;
}

export function buildMail(m: Mail): string {
  const headers = [
    `From: ${oneLine(m.from)}`,
    `To: ${m.to.map(oneLine).join(",\r\n ")}`,
    `Subject: ${encodeHeaderText(m.subject)}`,
    `Date: ${mailDate(m.date)}`,
    `Message-ID: <${oneLine(m.messageId)}>`,
    // RFC 3834: out-of-office robots do not answer it.
    "Auto-Submitted: auto-generated",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: quoted-printable",
  ];
  return `${headers.join("\r\n")}\r\n\r\n${quotedPrintable(m.body)}\r\n`;
}
