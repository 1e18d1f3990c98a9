/**
 * A minimal SMTP client (RFC 5321) for one message per connection: EHLO, STARTTLS (RFC 3207), AUTH
 * PLAIN (RFC 4616), MAIL, RCPT, DATA, QUIT. Every failure is a ChannelError with the reply's code and
 * the start of its text; the password never appears in one.
 */
import net from "node:net";
import tls from "node:tls";
import { ChannelError } from "./channel.ts";
import { snippet } from "./http.ts";

export interface SmtpServer {
  host: string;
  port: number;
  tls: "none" | "starttls" | "implicit";
  /** PEM to trust instead of the system's CAs. */
  ca?: string;
  helo: string;
  auth?: { username: string; password: string };
}

export interface Envelope {
  from: string;
  to: readonly string[];
}

interface Reply {
  code: number;
  lines: string[];
}

const MAX_REPLY_LINES = 100;
const MAX_BUFFER_CHARS = 64 * 1024;

/** A message as DATA sends it: CRLF line ends only, a leading "." doubled (RFC 5321 4.5.2), and the final ".". */
export function dataSection(message: string): string {
  const crlf = message.replace(/\r\n|\r|\n/g, "\r\n");
  const body = crlf.endsWith("\r\n") ? crlf : `${crlf}\r\n`;
  return `${body.replace(/^\./gm, "..")}.\r\n`;
}

/** One connection's conversation: replies read line by line from whichever socket carries it (plain, then TLS). */
class Conversation {
  private socket: net.Socket;
  private buffer = "";
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(socket: net.Socket, private readonly label: string, private readonly secrets: string[]) {
    this.socket = socket;
    this.listen(socket);
  }

  private readonly onData = (d: Buffer) => {
    this.buffer += d.toString("utf8");
    if (this.buffer.length > MAX_BUFFER_CHARS) this.fail(new ChannelError(`${this.label}: the server sent more than ${MAX_BUFFER_CHARS} characters without a reply`));
    this.wake?.();
  };
  private readonly onError = (e: Error) => {
    const code = (e as NodeJS.ErrnoException).code;
    this.fail(new ChannelError(`${this.label}: connection failed: ${code ?? snippet(e.message, this.secrets)}`));
  };
  private readonly onClose = () => this.fail(new ChannelError(`${this.label}: the server closed the connection`));

  private listen(s: net.Socket): void {
    s.on("data", this.onData).on("error", this.onError).on("close", this.onClose);
  }

  private unlisten(s: net.Socket): void {
    s.off("data", this.onData).off("error", this.onError).off("close", this.onClose);
  }

  /** The first failure wins; later ones (the close after an error) are not news. */
  fail(e: Error): void {
    this.failure ??= e;
    this.socket.destroy();
    this.wake?.();
  }

  private async line(): Promise<string> {
    for (;;) {
      const end = this.buffer.indexOf("\n");
      if (end >= 0) {
        const line = this.buffer.slice(0, end).replace(/\r$/, "");
        this.buffer = this.buffer.slice(end + 1);
        return line;
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  /** One reply, all its lines: "250-a", "250-b", "250 c". */
  async reply(stage: string): Promise<Reply> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.line();
      const m = /^(\d{3})([ -]|$)(.*)$/.exec(line);
      if (!m) throw new ChannelError(`${this.label}: ${stage}: not an SMTP reply: ${snippet(line, this.secrets)}`);
      lines.push(m[3]!);
      if (m[2] !== "-") return { code: Number(m[1]), lines };
      if (lines.length >= MAX_REPLY_LINES) throw new ChannelError(`${this.label}: ${stage}: a reply of more than ${MAX_REPLY_LINES} lines`);
    }
  }

  /** The reply to what was sent, which must have one of the `ok` codes. */
  async expect(stage: string, ok: number[]): Promise<Reply> {
    const r = await this.reply(stage);
    if (!ok.includes(r.code)) throw new ChannelError(`${this.label}: ${stage}: ${r.code} ${snippet(r.lines.join(" "), this.secrets)}`);
    return r;
  }

  /** A command line; `stage` names it in errors (for AUTH, instead of the line, which holds the password). */
  async command(line: string, stage: string, ok: number[]): Promise<Reply> {
    if (/[\r\n]/.test(line)) throw new ChannelError(`${this.label}: ${stage}: a command cannot hold a line break`);
    this.socket.write(`${line}\r\n`);
    return this.expect(stage, ok);
  }

  async data(message: string): Promise<void> {
    await this.command("DATA", "DATA", [354]);
    this.socket.write(dataSection(message));
    await this.expect("end of DATA", [250]);
  }

  /** STARTTLS's upgrade: from here on, replies come through TLS. */
  async startTls(server: SmtpServer): Promise<void> {
    // Anything already received was sent before the handshake and could be an attacker's (CVE-2011-0411).
    if (this.buffer !== "") throw new ChannelError(`${this.label}: STARTTLS: the server sent data before TLS started`);
    const plain = this.socket;
    this.unlisten(plain);
    // The TLS socket reports errors of the one beneath; this keeps an error there from being unhandled.
    plain.on("error", () => {});
    const secure = tls.connect({ socket: plain, ...tlsTarget(server) });
    this.socket = secure;
    this.listen(secure);
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", resolve);
      secure.once("error", reject);
      secure.once("close", reject);
    }).catch(() => {
      throw this.failure ?? new ChannelError(`${this.label}: STARTTLS: the TLS handshake failed`);
    });
  }

  async quit(): Promise<void> {
    try {
      await this.command("QUIT", "QUIT", [221]);
    } catch {
      // The message went through; a server that hangs up without a goodbye changes nothing.
    }
    this.socket.destroy();
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Whom the certificate must name, and whom to trust. SNI carries names only, never an address. */
function tlsTarget(server: SmtpServer): tls.ConnectionOptions {
  return { host: server.host, ...(net.isIP(server.host) ? {} : { servername: server.host }), ...(server.ca ? { ca: server.ca } : {}) };
}

function offers(ehlo: Reply, extension: string): boolean {
  return ehlo.lines.slice(1).some((l) => l.toUpperCase().split(" ")[0] === extension);
}

/** Sends `message` to `envelope.to` through `server`, or throws a ChannelError; done or failed within `timeoutMs`, or when `signal` aborts. */
export async function sendMail(server: SmtpServer, envelope: Envelope, message: string, label: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const secrets = server.auth ? [server.auth.password, plainCredentials(server.auth)] : [];
  const socket = server.tls === "implicit"
    ? tls.connect({ port: server.port, ...tlsTarget(server) })
    : net.connect({ host: server.host, port: server.port });
  const c = new Conversation(socket, label, secrets);
  const timeout = AbortSignal.timeout(timeoutMs);
  const either = AbortSignal.any([signal, timeout]);
  const onAbort = () => c.fail(new ChannelError(`${label}: ${timeout.aborted ? `not done within ${timeoutMs / 1000} s` : "sending was cancelled"}`));
  if (either.aborted) onAbort();
  either.addEventListener("abort", onAbort);
  try {
    await c.expect("greeting", [220]);
    const ehlo = await c.command(`EHLO ${server.helo}`, "EHLO", [250]);
    if (server.tls === "starttls") {
      if (!offers(ehlo, "STARTTLS")) throw new ChannelError(`${label}: the server does not offer STARTTLS (tls: starttls never sends in clear text)`);
      await c.command("STARTTLS", "STARTTLS", [220]);
      await c.startTls(server);
      await c.command(`EHLO ${server.helo}`, "EHLO after STARTTLS", [250]);
    }
    if (server.auth) await c.command(`AUTH PLAIN ${plainCredentials(server.auth)}`, "AUTH PLAIN", [235]);
    await c.command(`MAIL FROM:<${envelope.from}>`, "MAIL FROM", [250]);
    // Every recipient or none: a message sent to some would go to them again on the retry.
    for (const to of envelope.to) await c.command(`RCPT TO:<${to}>`, `RCPT TO ${to}`, [250, 251]);
    await c.data(message);
    await c.quit();
  } finally {
    either.removeEventListener("abort", onAbort);
    c.close();
  }
}

function plainCredentials(auth: { username: string; password: string }): string {
  return Buffer.from(`\0${auth.username}\0${auth.password}`, "utf8").toString("base64");
}
