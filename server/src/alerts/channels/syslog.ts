/**
 * Syslog (RFC 5424) over UDP (RFC 5426) or TCP with octet counting (RFC 6587 3.4.1: "LEN SP MSG").
 * An alert is one line: the audited user's text has its control characters written as escapes, and
 * structured-data values escape `"`, `\` and `]`.
 */
import { lookup } from "node:dns/promises";
import dgram from "node:dgram";
import net from "node:net";
import { hostname } from "node:os";
import type { AlertMessage, Channel } from "./channel.ts";
import { ChannelError } from "./channel.ts";
import { type ChannelConfigOf, FACILITIES, type Facility, syslogPort } from "./config.ts";
import { visible } from "./format.ts";

const SEVERITY_CODE = { critical: 2, warning: 4, info: 6 } as const;
/** Private enterprise number 32473 is the one RFC 5612 sets aside for examples and documentation. */
const SD_ID = "cmdaudit@32473";
/** RFC 5426: every receiver should take 2048 octets over UDP. */
const UDP_MAX_BYTES = 2048;
const TCP_MAX_BYTES = 8192;

/** A header field: 1 to `max` printable ASCII characters, or "-" (the nil value). */
const headerField = (s: string, max: number) => s.replace(/[^!-~]/g, "_").slice(0, max) || "-";
const sdValue = (s: string) => visible(s.replace(/["\\\]]/g, (c) => `\\${c}`));

/** RFC 5424 TIMESTAMP with the microseconds the server keeps. */
function timestamp(us: number): string {
  const seconds = new Date(Math.floor(us / 1000)).toISOString().slice(0, 19);
  return `${seconds}.${String(us % 1_000_000).padStart(6, "0")}Z`;
}

export interface SyslogOrigin {
  facility: Facility;
  appName: string;
  hostname: string;
  procId: number;
}

export function syslogLine(m: AlertMessage, o: SyslogOrigin, maxBytes: number): string {
  const pri = FACILITIES[o.facility] * 8 + SEVERITY_CODE[m.severity];
  const params = { rule: m.ruleId, severity: m.severity, host: m.hostname, luser: m.luser, suser: m.suser, delivery: m.deliveryId, count: String(m.count) };
  const sd = `[${SD_ID} ${Object.entries(params).map(([k, v]) => `${k}="${sdValue(v)}"`).join(" ")}]`;
  const head = `<${pri}>1 ${timestamp(m.raisedUs)} ${headerField(o.hostname, 255)} ${headerField(o.appName, 48)} ${o.procId} ${m.kind} ${sd}`;
  const what = m.command ? `: ${m.command}` : ` (host silent)`;
  const msg = visible(`${m.severity} ${m.ruleId} on ${m.hostname}, user ${m.suser} (login ${m.luser})${what}`);
  return cutUtf8(`${head} ${msg}`, maxBytes);
}

/** The longest start of `s` of at most `maxBytes` UTF-8 bytes that ends on a whole character. */
function cutUtf8(s: string, maxBytes: number): string {
  const bytes = Buffer.from(s, "utf8");
  if (bytes.length <= maxBytes) return s;
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString("utf8");
}

function parseAddress(address: string): { host: string; port: number } {
  const host = address.slice(0, address.lastIndexOf(":")).replace(/^\[(.*)\]$/, "$1");
  return { host, port: syslogPort(address) };
}

/** `work`, or a rejection when `signal` aborts first (a name lookup takes the resolver's own time). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new ChannelError("aborted"));
    if (signal.aborted) onAbort();
    signal.addEventListener("abort", onAbort);
  });
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
}

async function sendUdp(host: string, port: number, line: string, signal: AbortSignal): Promise<void> {
  const { address, family } = await untilAborted(lookup(host), signal);
  const socket = dgram.createSocket(family === 6 ? "udp6" : "udp4");
  try {
    await untilAborted(new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.send(Buffer.from(line, "utf8"), port, address, (e) => (e ? reject(e) : resolve()));
    }), signal);
  } finally {
    socket.close();
  }
}

async function sendTcp(host: string, port: number, line: string, signal: AbortSignal): Promise<void> {
  const frame = `${Buffer.byteLength(line, "utf8")} ${line}`;
  const socket = net.connect({ host, port });
  const onAbort = () => socket.destroy(new ChannelError("aborted"));
  signal.addEventListener("abort", onAbort);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      // "finish": handed to the kernel, which still sends it after the close.
      socket.once("connect", () => socket.end(frame, () => resolve()));
    });
  } finally {
    signal.removeEventListener("abort", onAbort);
    socket.destroy();
  }
}

export function syslogChannel(cfg: ChannelConfigOf<"syslog">): Channel {
  const { host, port } = parseAddress(cfg.address);
  const origin: SyslogOrigin = { facility: cfg.facility, appName: cfg.app_name, hostname: hostname(), procId: process.pid };
  const label = `${cfg.type} channel ${cfg.name}`;
  return {
    name: cfg.name,
    type: cfg.type,
    minSeverity: cfg.min_severity,
    async send(m, signal) {
      const timeout = AbortSignal.timeout(cfg.timeout_seconds * 1000);
      const either = AbortSignal.any([signal, timeout]);
      try {
        if (cfg.protocol === "udp") await sendUdp(host, port, syslogLine(m, origin, UDP_MAX_BYTES), either);
        else await sendTcp(host, port, syslogLine(m, origin, TCP_MAX_BYTES), either);
      } catch (e) {
        if (timeout.aborted) throw new ChannelError(`${label}: not sent within ${cfg.timeout_seconds} s`);
        if (signal.aborted) throw new ChannelError(`${label}: sending was cancelled`);
        throw new ChannelError(`${label}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    },
  };
}
