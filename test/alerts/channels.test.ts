/**
 * Alert delivery channels against receivers on 127.0.0.1 that check each provider's request as the
 * provider documents it (signatures recomputed here from the documented scheme) and answer as the
 * provider does; an SMTP server (with STARTTLS) and syslog receivers written here. Also: what the
 * audited user types cannot become markup, a header or a second message, and no error names a secret.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createHmac, timingSafeEqual } from "node:crypto";
import dgram from "node:dgram";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { describeIssues } from "../../protocol/config-file.ts";
import { type AlertMessage, ChannelError } from "../../server/src/alerts/channels/channel.ts";
import { type ChannelConfig, channelSchema } from "../../server/src/alerts/channels/config.ts";
import { createChannel, createChannels } from "../../server/src/alerts/channels/index.ts";
import { buildMail } from "../../server/src/alerts/channels/mime.ts";
import { dataSection } from "../../server/src/alerts/channels/smtp-client.ts";

const T0_US = Date.UTC(2024, 0, 2, 3, 4, 5) * 1000 + 123_456;

const alert = (over: Partial<AlertMessage> = {}): AlertMessage => ({
  deliveryId: "dlv-0001",
  kind: "alert",
  ruleId: "credentials.shadow-read",
  severity: "critical",
  description: "Reads the password hashes",
  hostname: "web1",
  luser: "alice",
  suser: "root",
  command: "cat /etc/shadow",
  sessionId: "sess-1",
  seq: 7,
  recordTsUs: T0_US,
  raisedUs: T0_US + 2_000_000,
  count: 1,
  windowEndUs: T0_US + 600_000_000,
  link: "https://audit.example.com/records/web1/sess-1/7",
  ...over,
});

/** A command that tries every markup the chat providers know: mentions, links, tags, fences. */
const HOSTILE_COMMAND = "echo <!channel> <@U024BE7LH> @all <at user_id=\"all\">x</at> [click](http://evil.example/) <font color=\"warning\">x</font> ``` `x` & done";

const channel = (raw: Record<string, unknown>, fetchImpl?: typeof fetch) => createChannel(channelSchema.parse(raw), fetchImpl ? { fetch: fetchImpl } : {});
const send = (c: ReturnType<typeof channel>, m: AlertMessage = alert(), signal = new AbortController().signal) => c.send(m, signal);

async function failure(p: Promise<unknown>): Promise<ChannelError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ChannelError);
    return e as ChannelError;
  }
  throw new Error("the send succeeded, a ChannelError was expected");
}

function expectNoSecret(e: Error, secrets: string[]): void {
  for (const s of secrets) expect(e.message).not.toContain(s);
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cmdaudit-channels-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const stops: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

// ---------------------------------------------------------------- HTTP receivers

interface HttpRequestSeen {
  url: URL;
  headers: Headers;
  body: string;
}

function httpReceiver(answer: (r: HttpRequestSeen) => Response | Promise<Response>) {
  const seen: HttpRequestSeen[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const r = { url: new URL(req.url), headers: req.headers, body: await req.text() };
      seen.push(r);
      return answer(r);
    },
  });
  stops.push(() => server.stop(true));
  return { base: `http://127.0.0.1:${server.port}`, seen };
}

const json = (body: unknown, status = 200) => Response.json(body, { status });
const hmac = (key: string, message: string, encoding: "hex" | "base64") => createHmac("sha256", key).update(message).digest(encoding);
const sameText = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

const WEBHOOK_SECRET = "whsec-0123456789abcdef-XYZ";
const ROBOT_TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
const DINGTALK_SECRET = "SECb1f0e2d3c4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b4c5d6e7f8";
const FEISHU_SECRET = "fsk-9Zq1Wm2Xn3Yb4Vc5";

/** The generic webhook's receiver, as its documentation tells one to write it. */
function webhookReceiver(secret: string) {
  return httpReceiver((r) => {
    if (r.headers.get("content-type") !== "application/json") return new Response("content type", { status: 415 });
    const ts = r.headers.get("x-cmdaudit-timestamp") ?? "";
    if (!/^\d+$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return new Response("stale", { status: 401 });
    const want = `sha256=${hmac(secret, `${ts}.${r.body}`, "hex")}`;
    if (!sameText(r.headers.get("x-cmdaudit-signature") ?? "", want)) return new Response("bad signature", { status: 401 });
    const body = JSON.parse(r.body) as AlertMessage & { version: number };
    if (body.version !== 1 || body.deliveryId !== r.headers.get("x-cmdaudit-delivery")) return new Response("bad body", { status: 400 });
    return new Response(null, { status: 204 });
  });
}

/** DingTalk's robot: access_token, and with a secret timestamp (ms) + sign in the query. */
function dingtalkRobot(secret: string | undefined) {
  return httpReceiver((r) => {
    if (r.url.pathname !== "/robot/send" || r.url.searchParams.get("access_token") !== ROBOT_TOKEN) return json({ errcode: 300001, errmsg: "token is not exist" });
    if (secret !== undefined) {
      const ts = r.url.searchParams.get("timestamp") ?? "";
      const sign = r.url.searchParams.get("sign") ?? ""; // decoded: a sign sent without percent-encoding loses its "+"
      if (!/^\d{13}$/.test(ts) || Math.abs(Date.now() - Number(ts)) > 3_600_000) return json({ errcode: 310000, errmsg: "sign not match, timestamp is invalid" });
      if (!sameText(sign, hmac(secret, `${ts}\n${secret}`, "base64"))) return json({ errcode: 310000, errmsg: "sign not match" });
    }
    const body = JSON.parse(r.body);
    if (body.msgtype !== "markdown" || typeof body.markdown?.title !== "string" || typeof body.markdown?.text !== "string") return json({ errcode: 40035, errmsg: "缺少参数 json" });
    if (Buffer.byteLength(body.markdown.text) > 4096) return json({ errcode: 460101, errmsg: "message too long" });
    return json({ errcode: 0, errmsg: "ok" });
  });
}

/** Feishu's custom bot: timestamp (s) and sign in the body, where the signed string is the HMAC key. */
function feishuBot(secret: string | undefined, ok: unknown = { code: 0, msg: "success", data: {} }) {
  return httpReceiver((r) => {
    if (r.url.pathname !== `/open-apis/bot/v2/hook/${ROBOT_TOKEN}`) return json({ code: 19001, msg: "param invalid: incoming webhook access token invalid" });
    const body = JSON.parse(r.body);
    if (secret !== undefined) {
      if (typeof body.timestamp !== "string" || Math.abs(Date.now() / 1000 - Number(body.timestamp)) > 3600) return json({ code: 19021, msg: "sign match fail or timestamp is not within one hour from current time" });
      if (!sameText(String(body.sign), hmac(`${body.timestamp}\n${secret}`, "", "base64"))) return json({ code: 19021, msg: "sign match fail or timestamp is not within one hour from current time" });
    }
    if (body.msg_type !== "text" || typeof body.content?.text !== "string") return json({ code: 9499, msg: "Bad Request" });
    return json(ok);
  });
}

function wecomRobot() {
  return httpReceiver((r) => {
    if (r.url.pathname !== "/cgi-bin/webhook/send" || r.url.searchParams.get("key") !== ROBOT_TOKEN) return json({ errcode: 93000, errmsg: "invalid webhook url, hint: [1700000000_1_abcd]" });
    const body = JSON.parse(r.body);
    if (body.msgtype !== "markdown" || typeof body.markdown?.content !== "string") return json({ errcode: 40008, errmsg: "invalid message type" });
    if (Buffer.byteLength(body.markdown.content) > 4096) return json({ errcode: 40058, errmsg: "markdown.content exceed max length 4096" });
    return json({ errcode: 0, errmsg: "ok" });
  });
}

function slackHook() {
  return httpReceiver((r) => {
    if (r.url.pathname !== `/services/T000/B000/${ROBOT_TOKEN}`) return new Response("no_service", { status: 404 });
    const body = JSON.parse(r.body);
    if (typeof body.text !== "string" || body.text === "") return new Response("no_text", { status: 400 });
    return new Response("ok");
  });
}

describe("generic webhook", () => {
  test("POSTs the whole message with version 1, delivery id and a signature the receiver verifies", async () => {
    const rx = webhookReceiver(WEBHOOK_SECRET);
    await send(channel({ name: "hook", type: "webhook", url: `${rx.base}/in`, secret: WEBHOOK_SECRET }));
    expect(rx.seen).toHaveLength(1);
    expect(JSON.parse(rx.seen[0]!.body)).toEqual({ version: 1, ...alert() });
    expect(rx.seen[0]!.headers.get("x-cmdaudit-delivery")).toBe("dlv-0001");
    expect(rx.seen[0]!.headers.get("x-cmdaudit-signature")).toMatch(/^sha256=[0-9a-f]{64}$/);
  });

  test("a wrong secret is refused by the receiver: a ChannelError with the status, not the secret", async () => {
    const rx = webhookReceiver(WEBHOOK_SECRET);
    const other = "another-secret-0123456789";
    const e = await failure(send(channel({ name: "hook", type: "webhook", url: `${rx.base}/in?token=${ROBOT_TOKEN}`, secret: other })));
    expect(e.message).toContain("HTTP 401");
    expect(e.message).toContain("bad signature");
    expectNoSecret(e, [other, ROBOT_TOKEN, rx.base]);
  });

  test("without a secret no signature header is sent", async () => {
    const rx = httpReceiver(() => new Response(null, { status: 202 }));
    await send(channel({ name: "hook", type: "webhook", url: `${rx.base}/in` }));
    expect(rx.seen[0]!.headers.has("x-cmdaudit-signature")).toBe(false);
  });

  test("the secret from secret_file (its first line)", async () => {
    const file = join(dir, "webhook-secret");
    writeFileSync(file, `${WEBHOOK_SECRET}\nsecond line ignored\n`);
    const rx = webhookReceiver(WEBHOOK_SECRET);
    await send(channel({ name: "hook", type: "webhook", url: `${rx.base}/in`, secret_file: file }));
    expect(rx.seen).toHaveLength(1);
  });

  test("a redirect is a failure and is not followed", async () => {
    const elsewhere = httpReceiver(() => new Response("ok"));
    const rx = httpReceiver(() => new Response(null, { status: 302, headers: { location: `${elsewhere.base}/stolen?token=${ROBOT_TOKEN}` } }));
    const e = await failure(send(channel({ name: "hook", type: "webhook", url: `${rx.base}/in` })));
    expect(e.message).toContain("redirect");
    expect(elsewhere.seen).toHaveLength(0);
    expectNoSecret(e, [ROBOT_TOKEN, elsewhere.base]);
  });

  test("a receiver that never answers: a ChannelError once timeout_seconds are up", async () => {
    const rx = httpReceiver(() => new Promise<Response>(() => {}));
    const started = performance.now();
    const e = await failure(send(channel({ name: "hook", type: "webhook", url: `${rx.base}/in?token=${ROBOT_TOKEN}`, timeout_seconds: 1 })));
    const seconds = (performance.now() - started) / 1000;
    expect(e.message).toContain("no answer within 1 s");
    expect(seconds).toBeGreaterThanOrEqual(0.9);
    expect(seconds).toBeLessThan(3);
    expectNoSecret(e, [ROBOT_TOKEN, rx.base]);
  });

  test("the caller's abort ends the send", async () => {
    const rx = httpReceiver(() => new Promise<Response>(() => {}));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const e = await failure(send(channel({ name: "hook", type: "webhook", url: `${rx.base}/in` }), alert(), ac.signal));
    expect(e.message).toContain("cancelled");
  });

  test("the fetch given to createChannel is the one used: POST, redirect manual, a signal", async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const recording = Object.assign(async (url: string | URL | Request, init?: RequestInit) => {
      calls.push({ url: String(url), init: init ?? {} });
      return new Response(null, { status: 204 });
    }, { preconnect: fetch.preconnect });
    await send(channel({ name: "hook", type: "webhook", url: "https://hooks.example.com/in" }, recording));
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe("https://hooks.example.com/in");
    expect(calls[0]!.init).toMatchObject({ method: "POST", redirect: "manual" });
    expect(calls[0]!.init.signal).toBeInstanceOf(AbortSignal);
  });

  test("nobody listening: the error names the failure, not the URL", async () => {
    const rx = httpReceiver(() => new Response("ok"));
    const url = `${rx.base}/in?token=${ROBOT_TOKEN}`;
    await stops.pop()!();
    const e = await failure(send(channel({ name: "hook", type: "webhook", url })));
    expect(e.message).toMatch(/^webhook channel hook: the request failed \(\w+\)$/);
    expectNoSecret(e, [ROBOT_TOKEN, url, rx.base]);
  });

  test("an error answer is quoted up to 200 characters, with the token taken out", async () => {
    const rx = httpReceiver(() => new Response(`denied for ${ROBOT_TOKEN} ${"x".repeat(5000)}`, { status: 500 }));
    const e = await failure(send(channel({ name: "hook", type: "webhook", url: `${rx.base}/in?token=${ROBOT_TOKEN}` })));
    expect(e.message).toContain("HTTP 500: denied for [redacted]");
    expect(e.message.length).toBeLessThan(300);
    expectNoSecret(e, [ROBOT_TOKEN]);
  });
});

describe("DingTalk", () => {
  test("signed markdown message; the robot recomputes the sign and answers errcode 0", async () => {
    const rx = dingtalkRobot(DINGTALK_SECRET);
    await send(channel({ name: "dt", type: "dingtalk", url: `${rx.base}/robot/send?access_token=${ROBOT_TOKEN}`, secret: DINGTALK_SECRET }));
    expect(rx.seen).toHaveLength(1);
    const body = JSON.parse(rx.seen[0]!.body);
    expect(body.markdown.title).toBe("[cmdaudit] critical credentials.shadow-read on web1");
    expect(body.markdown.text).toContain("`cat /etc/shadow`");
    expect(body.markdown.text).toContain("2024-01-02T03:04:05.123Z");
    expect(body.markdown.text).toContain("[Open in the console](https://audit.example.com/records/web1/sess-1/7)");
  });

  test("url_file and secret_file", async () => {
    const rx = dingtalkRobot(DINGTALK_SECRET);
    writeFileSync(join(dir, "dt-url"), `${rx.base}/robot/send?access_token=${ROBOT_TOKEN}\n`);
    writeFileSync(join(dir, "dt-secret"), `${DINGTALK_SECRET}\n`);
    await send(channel({ name: "dt", type: "dingtalk", url_file: join(dir, "dt-url"), secret_file: join(dir, "dt-secret") }));
    expect(rx.seen).toHaveLength(1);
  });

  test("a wrong secret: errcode 310000 is a ChannelError naming errcode and errmsg, never the token or secret", async () => {
    const rx = dingtalkRobot(DINGTALK_SECRET);
    const wrong = "SECwrong0000000000000000000000000000000000000000000000000000000000";
    const e = await failure(send(channel({ name: "dt", type: "dingtalk", url: `${rx.base}/robot/send?access_token=${ROBOT_TOKEN}`, secret: wrong })));
    expect(e.message).toBe("dingtalk channel dt: errcode 310000, errmsg sign not match");
    expectNoSecret(e, [wrong, ROBOT_TOKEN, DINGTALK_SECRET]);
  });

  test("HTTP 200 with a body that is not DingTalk's is not success", async () => {
    const rx = httpReceiver(() => new Response("<html>maintenance</html>"));
    const e = await failure(send(channel({ name: "dt", type: "dingtalk", url: `${rx.base}/robot/send?access_token=${ROBOT_TOKEN}` })));
    expect(e.message).toContain("not JSON");
  });

  test("a long command is cut to DingTalk's 4096 bytes", async () => {
    const rx = dingtalkRobot(undefined);
    const m = alert({ command: "中".repeat(1000), description: "描述".repeat(250) });
    await send(channel({ name: "dt", type: "dingtalk", url: `${rx.base}/robot/send?access_token=${ROBOT_TOKEN}` }), m);
    const text = JSON.parse(rx.seen[0]!.body).markdown.text as string;
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4096);
    expect(text).toContain("(truncated)");
    expect(text).toContain("Open in the console");
  });
});

describe("Feishu", () => {
  test("signed text message; the bot recomputes the sign (key = timestamp + \\n + secret) and answers code 0", async () => {
    const rx = feishuBot(FEISHU_SECRET);
    await send(channel({ name: "fs", type: "feishu", url: `${rx.base}/open-apis/bot/v2/hook/${ROBOT_TOKEN}`, secret: FEISHU_SECRET }));
    const body = JSON.parse(rx.seen[0]!.body);
    expect(Object.keys(body).sort()).toEqual(["content", "msg_type", "sign", "timestamp"]);
    expect(body.content.text).toContain("CRITICAL credentials.shadow-read on web1, user root (logged in as alice)");
  });

  test("a bot made before 2020 answers StatusCode 0", async () => {
    const rx = feishuBot(undefined, { Extra: null, StatusCode: 0, StatusMessage: "success" });
    await send(channel({ name: "fs", type: "feishu", url: `${rx.base}/open-apis/bot/v2/hook/${ROBOT_TOKEN}` }));
    expect(JSON.parse(rx.seen[0]!.body)).not.toHaveProperty("sign");
  });

  test("a wrong secret: code 19021 is a ChannelError", async () => {
    const rx = feishuBot(FEISHU_SECRET);
    const e = await failure(send(channel({ name: "fs", type: "feishu", url: `${rx.base}/open-apis/bot/v2/hook/${ROBOT_TOKEN}`, secret: "not-the-secret" })));
    expect(e.message).toStartWith("feishu channel fs: code 19021, msg sign match fail");
    expectNoSecret(e, [ROBOT_TOKEN, "not-the-secret"]);
  });

  test("a typed <at user_id=\"all\"> is not a mention", async () => {
    const rx = feishuBot(undefined);
    await send(channel({ name: "fs", type: "feishu", url: `${rx.base}/open-apis/bot/v2/hook/${ROBOT_TOKEN}` }), alert({ command: HOSTILE_COMMAND }));
    const text = JSON.parse(rx.seen[0]!.body).content.text as string;
    expect(text).not.toContain("<at");
    expect(text).not.toContain("<");
    expect(text).toContain("@all");
  });
});

describe("WeCom", () => {
  test("markdown message to the URL's key; errcode 0", async () => {
    const rx = wecomRobot();
    await send(channel({ name: "wc", type: "wecom", url: `${rx.base}/cgi-bin/webhook/send?key=${ROBOT_TOKEN}` }));
    expect(JSON.parse(rx.seen[0]!.body).markdown.content).toContain("**CRITICAL** `credentials.shadow-read` on `web1`");
  });

  test("a wrong key: errcode 93000 is a ChannelError without the key", async () => {
    const rx = wecomRobot();
    const wrongKey = "ffffffff-0000-1111-2222-333333333333";
    const e = await failure(send(channel({ name: "wc", type: "wecom", url: `${rx.base}/cgi-bin/webhook/send?key=${wrongKey}` })));
    expect(e.message).toStartWith("wecom channel wc: errcode 93000, errmsg invalid webhook url");
    expectNoSecret(e, [wrongKey]);
  });

  test("a long command is cut to 4096 bytes", async () => {
    const rx = wecomRobot();
    await send(channel({ name: "wc", type: "wecom", url: `${rx.base}/cgi-bin/webhook/send?key=${ROBOT_TOKEN}` }), alert({ command: `${"<[x]>".repeat(150)}\n`.repeat(4) }));
    expect(Buffer.byteLength(JSON.parse(rx.seen[0]!.body).markdown.content)).toBeLessThanOrEqual(4096);
  });
});

describe("Slack", () => {
  test("text to the incoming webhook; a 404 is a ChannelError without the URL", async () => {
    const rx = slackHook();
    await send(channel({ name: "sl", type: "slack", url: `${rx.base}/services/T000/B000/${ROBOT_TOKEN}` }));
    expect(JSON.parse(rx.seen[0]!.body).text).toContain("*CRITICAL* `credentials.shadow-read` on `web1`");
    const e = await failure(send(channel({ name: "sl", type: "slack", url: `${rx.base}/services/T000/B000/revoked0123456789` })));
    expect(e.message).toBe("slack channel sl: HTTP 404: no_service");
    expectNoSecret(e, ["revoked0123456789", rx.base]);
  });
});

describe("what the audited user typed is never markup", () => {
  const markdownLink = /\]\(http:\/\/evil/;

  test("Slack: & < > as entities, one code block that the command cannot close", async () => {
    const rx = slackHook();
    await send(channel({ name: "sl", type: "slack", url: `${rx.base}/services/T000/B000/${ROBOT_TOKEN}` }), alert({ command: HOSTILE_COMMAND, hostname: "<!here>", suser: "`x`<@U1>" }));
    const text = JSON.parse(rx.seen[0]!.body).text as string;
    expect(text).not.toMatch(/<[!@#]/);
    expect(text).toContain("&lt;!channel&gt;");
    expect(text).toContain("&lt;!here&gt;");
    expect(text.split("```")).toHaveLength(3);
    expect(text).toContain("&amp; done");
    // The only link is ours, in Slack's own <url|label> form.
    expect(text.match(/<[^>]*>/g)).toEqual(["<https://audit.example.com/records/web1/sess-1/7|Open in the console>"]);
  });

  test("DingTalk and WeCom markdown: no link, tag or mention, code spans that stay closed", async () => {
    const dt = dingtalkRobot(undefined);
    const wc = wecomRobot();
    const m = alert({ command: `${HOSTILE_COMMAND}\nsecond line [y](http://evil.example/2)`, hostname: "[h](http://evil.example)", luser: "<@all>" });
    await send(channel({ name: "dt", type: "dingtalk", url: `${dt.base}/robot/send?access_token=${ROBOT_TOKEN}` }), m);
    await send(channel({ name: "wc", type: "wecom", url: `${wc.base}/cgi-bin/webhook/send?key=${ROBOT_TOKEN}` }), m);
    for (const text of [JSON.parse(dt.seen[0]!.body).markdown.text as string, JSON.parse(wc.seen[0]!.body).markdown.content as string]) {
      expect(text).not.toMatch(markdownLink);
      expect(text).not.toContain("<");
      for (const line of text.split("\n")) expect(line.split("`").length % 2).toBe(1);
      expect(text).toContain("`echo ＜!channel＞ ＜@U024BE7LH＞ @all");
    }
  });

  test("control characters and bidi overrides are shown as escapes", async () => {
    const rx = wecomRobot();
    await send(channel({ name: "wc", type: "wecom", url: `${rx.base}/cgi-bin/webhook/send?key=${ROBOT_TOKEN}` }), alert({ command: "rm -rf /\u202e#txt.\u001b[2J\r" }));
    const text = JSON.parse(rx.seen[0]!.body).markdown.content as string;
    expect(text).toContain("`rm -rf /\\u202e#txt.\\e［2J\\r`");
    expect(text).not.toMatch(/[\u001b\u202e\r]/);
  });
});

// ---------------------------------------------------------------- SMTP

interface SmtpTransaction {
  /** Every command line received, in order (AUTH's argument included). */
  commands: string[];
  tlsAtMail: boolean;
  auth?: { user: string; password: string };
  from?: string;
  to: string[];
  /** DATA as it came over the wire (dot-stuffed), line by line, without the final ".". */
  wireLines: string[];
  bareLineFeeds: number;
}

interface SmtpReceiverOptions {
  cert?: { key: string; cert: string };
  offerStartTls?: boolean;
  credentials?: { user: string; password: string };
  rejectRecipient?: string;
  silent?: boolean;
  /** TLS from the first byte (port 465 style) with `cert`. */
  implicitTls?: boolean;
}

/** An SMTP server speaking just enough of RFC 5321/3207/4954 to hold one transaction per connection. */
function smtpReceiver(o: SmtpReceiverOptions = {}) {
  const transactions: SmtpTransaction[] = [];
  const sockets = new Set<net.Socket>();
  const onConnection = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    if (o.silent) return;
    const tx: SmtpTransaction = { commands: [], tlsAtMail: false, to: [], wireLines: [], bareLineFeeds: 0 };
    transactions.push(tx);
    let secure = !!o.implicitTls;
    let inData = false;
    let buffer = "";
    const speak = (s: net.Socket) => {
      const reply = (text: string) => s.write(`${text}\r\n`);
      s.on("data", (d: Buffer) => {
        buffer += d.toString("utf8");
        let end: number;
        while ((end = buffer.indexOf("\n")) >= 0) {
          const raw = buffer.slice(0, end);
          buffer = buffer.slice(end + 1);
          if (!raw.endsWith("\r")) tx.bareLineFeeds++;
          const line = raw.replace(/\r$/, "");
          if (inData) {
            if (line === ".") {
              inData = false;
              reply("250 2.0.0 queued as T1");
            } else {
              tx.wireLines.push(line);
            }
            continue;
          }
          tx.commands.push(line);
          const verb = line.split(" ")[0]!.toUpperCase();
          if (verb === "EHLO") {
            const exts = ["AUTH PLAIN", ...(o.offerStartTls && !secure ? ["STARTTLS"] : []), "8BITMIME"];
            s.write(["250-mx.test greets you", ...exts.slice(0, -1).map((e) => `250-${e}`), `250 ${exts.at(-1)}`].join("\r\n") + "\r\n");
          } else if (verb === "STARTTLS" && o.cert && !secure) {
            reply("220 2.0.0 ready to start TLS");
            s.removeAllListeners("data");
            const t = new tls.TLSSocket(s, { isServer: true, key: o.cert.key, cert: o.cert.cert });
            t.on("error", () => {});
            secure = true;
            speak(t);
            return;
          } else if (verb === "AUTH") {
            const [, mech, arg] = line.split(" ");
            const [, user, password] = Buffer.from(arg ?? "", "base64").toString("utf8").split("\0");
            tx.auth = { user: user ?? "", password: password ?? "" };
            const ok = mech === "PLAIN" && user === o.credentials?.user && password === o.credentials?.password;
            reply(ok ? "235 2.7.0 authenticated" : "535 5.7.8 authentication credentials invalid");
          } else if (verb === "MAIL") {
            tx.from = /^MAIL FROM:<([^>]*)>$/.exec(line)?.[1];
            tx.tlsAtMail = secure;
            reply(o.credentials && !tx.auth ? "530 5.7.0 authentication required" : "250 2.1.0 ok");
          } else if (verb === "RCPT") {
            const to = /^RCPT TO:<([^>]*)>$/.exec(line)?.[1] ?? "";
            if (to === o.rejectRecipient) {
              reply(`550 5.1.1 <${to}>: Recipient address rejected: User unknown in local recipient table`);
            } else {
              tx.to.push(to);
              reply("250 2.1.5 ok");
            }
          } else if (verb === "DATA") {
            inData = true;
            reply("354 end data with <CR><LF>.<CR><LF>");
          } else if (verb === "QUIT") {
            reply("221 2.0.0 bye");
            s.end();
          } else {
            reply("502 5.5.2 command not recognized");
          }
        }
      });
    };
    socket.write("220 mx.test ESMTP ready\r\n");
    speak(socket);
  };
  const server = o.implicitTls && o.cert ? tls.createServer({ key: o.cert.key, cert: o.cert.cert }, onConnection) : net.createServer(onConnection);
  const listening = new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)));
  stops.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { listening, transactions };
}

/** The message DATA carried: dots unstuffed, headers unfolded by name, the quoted-printable body decoded. */
function parseMail(wireLines: string[]) {
  const lines = wireLines.map((l) => (l.startsWith(".") ? l.slice(1) : l));
  const blank = lines.indexOf("");
  const headerLines: string[] = [];
  for (const l of lines.slice(0, blank)) {
    if (/^[ \t]/.test(l)) headerLines[headerLines.length - 1] += l;
    else headerLines.push(l);
  }
  const headers = headerLines.map((l) => {
    const m = /^([A-Za-z-]+): (.*)$/.exec(l);
    if (!m) throw new Error(`not a header line: ${JSON.stringify(l)}`);
    return [m[1]!, m[2]!] as const;
  });
  const qp = lines.slice(blank + 1).join("\r\n").replace(/=\r\n/g, "");
  const body = Buffer.from(qp.replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), "latin1").toString("utf8");
  return { headers, body: body.replace(/\r\n/g, "\n") };
}

const decodeWords = (v: string) => v.replace(/=\?UTF-8\?B\?([^?]*)\?=\s*/g, (_, b64: string) => Buffer.from(b64, "base64").toString("utf8"));
const header = (mail: ReturnType<typeof parseMail>, name: string) => mail.headers.filter(([n]) => n === name).map(([, v]) => v);

let certificate: { key: string; cert: string; certFile: string } | undefined;

/** A self-signed certificate for 127.0.0.1, made once with the openssl CLI. */
function selfSignedCert(): { key: string; cert: string; certFile: string } {
  if (certificate) return certificate;
  const keyFile = join(dir, "smtp-key.pem");
  const certFile = join(dir, "smtp-cert.pem");
  const r = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2",
    "-subj", "/CN=mx.test", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl: ${r.stderr.toString()}`);
  certificate = { key: readFileSync(keyFile, "utf8"), cert: readFileSync(certFile, "utf8"), certFile };
  return certificate;
}

const smtpConfig = (port: number, over: Record<string, unknown> = {}) => ({
  name: "mail", type: "smtp", host: "127.0.0.1", port, tls: "none", from: "cmdaudit@audit.example.com", to: ["sec@example.com", "ops@example.com"], helo: "audit.example.com", ...over,
});

describe("SMTP", () => {
  test("a whole transaction: EHLO, AUTH PLAIN, MAIL, RCPT each, DATA, QUIT; headers and body", async () => {
    const rx = smtpReceiver({ credentials: { user: "alerts", password: "pw-S3cret!" } });
    const port = await rx.listening;
    await send(channel(smtpConfig(port, { username: "alerts", password: "pw-S3cret!" })));
    const tx = rx.transactions[0]!;
    expect(tx.commands.map((c) => c.split(" ")[0])).toEqual(["EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]);
    expect(tx.commands[0]).toBe("EHLO audit.example.com");
    expect(tx.auth).toEqual({ user: "alerts", password: "pw-S3cret!" });
    expect(tx.from).toBe("cmdaudit@audit.example.com");
    expect(tx.to).toEqual(["sec@example.com", "ops@example.com"]);
    expect(tx.bareLineFeeds).toBe(0);
    const mail = parseMail(tx.wireLines);
    expect(mail.headers.map(([n]) => n)).toEqual(["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"]);
    expect(header(mail, "Subject")).toEqual(["[cmdaudit] critical credentials.shadow-read on web1"]);
    expect(header(mail, "Message-ID")).toEqual(["<dlv-0001@cmdaudit>"]);
    expect(header(mail, "Date")).toEqual(["Tue, 02 Jan 2024 03:04:07 +0000"]);
    expect(header(mail, "Content-Type")).toEqual(["text/plain; charset=utf-8"]);
    expect(mail.body).toContain("    cat /etc/shadow\n");
    expect(mail.body).toContain("Ran at 2024-01-02T03:04:05.123Z");
    expect(mail.body).toContain("Open in the console: https://audit.example.com/records/web1/sess-1/7");
    for (const l of tx.wireLines) expect(l.length).toBeLessThanOrEqual(998);
  });

  test("a command line that comes to start a line with \".\" is dot-stuffed, and a lone \".\" does not end the message", async () => {
    const rx = smtpReceiver();
    const port = await rx.listening;
    // Indented by 4, 71 characters fill a quoted-printable line (75): the "." after them starts the next line, alone.
    const command = `${"a".repeat(71)}.\nRCPT TO:<evil@evil.example>\n.\nQUIT`;
    await send(channel(smtpConfig(port)), alert({ command }));
    const tx = rx.transactions[0]!;
    expect(tx.wireLines).toContain("..");
    expect(tx.commands.filter((c) => c.startsWith("RCPT"))).toHaveLength(2);
    expect(tx.commands.slice(-2)).toEqual(["DATA", "QUIT"]);
    expect(parseMail(tx.wireLines).body).toContain(`    ${"a".repeat(71)}.\n    RCPT TO:<evil@evil.example>\n    .\n    QUIT\n`);
  });

  test("dot-stuffing on the wire: a body line that starts with \".\" goes as \"..\"", async () => {
    const rx = smtpReceiver();
    const port = await rx.listening;
    // A description line is not indented: its "." starts a body line.
    await send(channel(smtpConfig(port)), alert({ description: ".dotfile check" }));
    const tx = rx.transactions[0]!;
    expect(tx.wireLines).toContain("..dotfile check");
    expect(parseMail(tx.wireLines).body).toContain("\n.dotfile check\n");
  });

  test("CR/LF in host name, user and command never start a header", async () => {
    const rx = smtpReceiver();
    const port = await rx.listening;
    const inject = "\r\nBcc: x@evil.example\r\nX-Injected: 1";
    await send(channel(smtpConfig(port)), alert({ hostname: `web1${inject}`, ruleId: `r${inject}`, suser: `root${inject}`, command: `ls${inject}\n\nBcc: y@evil.example`, deliveryId: `d${inject}` }));
    const tx = rx.transactions[0]!;
    const mail = parseMail(tx.wireLines);
    expect(mail.headers.map(([n]) => n)).toEqual(["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"]);
    expect(tx.to).toEqual(["sec@example.com", "ops@example.com"]);
    expect(header(mail, "Subject")[0]).toBe("[cmdaudit] critical r\\r\\nBcc: x@evil.example\\r\\nX-Injected: 1 on web1\\r\\nBcc: x@evil.example\\r\\nX-Injected: 1");
    expect(header(mail, "Message-ID")[0]).toMatch(/^<[A-Za-z0-9._-]+@cmdaudit>$/);
  });

  test("buildMail on its own: CR/LF in a header value becomes a space, whatever the caller passed", () => {
    const message = buildMail({ from: "a@example.com", to: ["b@example.com"], subject: "hi\r\nBcc: x@evil.example", date: new Date(0), messageId: "m\r\nX-Evil: 1@x", body: "." });
    const wireLines = dataSection(message).split("\r\n").slice(0, -2);
    const mail = parseMail(wireLines);
    expect(mail.headers.map(([n]) => n)).toEqual(["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"]);
    expect(header(mail, "Subject")).toEqual(["hi Bcc: x@evil.example"]);
    expect(wireLines.at(-1)).toBe("..");
  });

  test("a non-ASCII subject is RFC 2047 encoded, folded, and decodes back", async () => {
    const rx = smtpReceiver();
    const port = await rx.listening;
    await send(channel(smtpConfig(port)), alert({ hostname: "数据库-主节点-".repeat(8) }));
    const tx = rx.transactions[0]!;
    const subject = header(parseMail(tx.wireLines), "Subject")[0]!;
    expect(subject).toMatch(/^=\?UTF-8\?B\?/);
    expect(decodeWords(subject)).toBe(`[cmdaudit] critical credentials.shadow-read on ${"数据库-主节点-".repeat(8)}`);
    // RFC 2047: a header line holding encoded words is at most 76 characters; quoted-printable lines too.
    for (const l of tx.wireLines) expect(l.length).toBeLessThanOrEqual(76);
  });

  test("STARTTLS to a server whose self-signed certificate is trusted through ca_file, then AUTH", async () => {
    const cert = selfSignedCert();
    const rx = smtpReceiver({ cert, offerStartTls: true, credentials: { user: "alerts", password: "tls-only-pw" } });
    const port = await rx.listening;
    await send(channel(smtpConfig(port, { tls: "starttls", ca_file: cert.certFile, username: "alerts", password: "tls-only-pw" })));
    const tx = rx.transactions[0]!;
    expect(tx.commands.map((c) => c.split(" ")[0])).toEqual(["EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]);
    expect(tx.tlsAtMail).toBe(true);
    expect(tx.auth?.password).toBe("tls-only-pw");
  });

  test("implicit TLS: TLS from the first byte, certificate trusted through ca_file", async () => {
    const cert = selfSignedCert();
    const rx = smtpReceiver({ cert, implicitTls: true });
    const port = await rx.listening;
    await send(channel(smtpConfig(port, { tls: "implicit", ca_file: cert.certFile })));
    const tx = rx.transactions[0]!;
    expect(tx.tlsAtMail).toBe(true);
    expect(tx.commands.map((c) => c.split(" ")[0])).toEqual(["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]);
  });

  test("STARTTLS to a certificate nobody trusts fails before AUTH", async () => {
    const cert = selfSignedCert();
    const rx = smtpReceiver({ cert, offerStartTls: true, credentials: { user: "alerts", password: "tls-only-pw" } });
    const port = await rx.listening;
    const e = await failure(send(channel(smtpConfig(port, { tls: "starttls", username: "alerts", password: "tls-only-pw" }))));
    expect(e.message).toStartWith("smtp channel mail: connection failed:");
    expect(rx.transactions[0]!.commands).toEqual(["EHLO audit.example.com", "STARTTLS"]);
    expectNoSecret(e, ["tls-only-pw"]);
  });

  test("tls: starttls never falls back to clear text", async () => {
    const rx = smtpReceiver({ offerStartTls: false });
    const port = await rx.listening;
    const e = await failure(send(channel(smtpConfig(port, { tls: "starttls" }))));
    expect(e.message).toContain("does not offer STARTTLS");
    expect(rx.transactions[0]!.commands).toEqual(["EHLO audit.example.com"]);
  });

  test("a 550 to RCPT is a ChannelError with code and text, and no DATA is sent", async () => {
    const rx = smtpReceiver({ rejectRecipient: "ops@example.com" });
    const port = await rx.listening;
    const e = await failure(send(channel(smtpConfig(port))));
    expect(e.message).toStartWith("smtp channel mail: RCPT TO ops@example.com: 550 5.1.1 <ops@example.com>: Recipient address rejected");
    expect(rx.transactions[0]!.commands).not.toContain("DATA");
  });

  test("a 535 to AUTH names neither password nor credentials", async () => {
    const rx = smtpReceiver({ credentials: { user: "alerts", password: "right-password" } });
    const port = await rx.listening;
    const e = await failure(send(channel(smtpConfig(port, { username: "alerts", password: "wrong-password" }))));
    expect(e.message).toBe("smtp channel mail: AUTH PLAIN: 535 5.7.8 authentication credentials invalid");
    expectNoSecret(e, ["wrong-password", Buffer.from("\0alerts\0wrong-password").toString("base64")]);
  });

  test("a server that never greets: a ChannelError once timeout_seconds are up", async () => {
    const rx = smtpReceiver({ silent: true });
    const port = await rx.listening;
    const started = performance.now();
    const e = await failure(send(channel(smtpConfig(port, { timeout_seconds: 1 }))));
    expect(e.message).toContain("not done within 1 s");
    expect(performance.now() - started).toBeLessThan(3000);
  });
});

// ---------------------------------------------------------------- syslog

interface Rfc5424 {
  pri: number;
  version: string;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  sdId: string;
  params: Record<string, string>;
  msg: string;
}

/** RFC 5424 with one SD-ELEMENT, its PARAM-VALUEs unescaped (\" \\ \]). */
function parse5424(line: string): Rfc5424 {
  const head = /^<(\d{1,3})>(\d) (\S+) (\S+) (\S+) (\S+) (\S+) \[/.exec(line);
  if (!head) throw new Error(`not RFC 5424: ${line}`);
  let i = head[0].length;
  const sdId = /^[^ \]=" ]+/.exec(line.slice(i))![0];
  i += sdId.length;
  const params: Record<string, string> = {};
  while (line[i] === " ") {
    const name = /^ ([^ =\]"]+)="/.exec(line.slice(i));
    if (!name) throw new Error(`bad SD-PARAM at ${i}: ${line.slice(i)}`);
    i += name[0].length;
    let value = "";
    for (; line[i] !== '"'; i++) {
      if (i >= line.length) throw new Error("unterminated PARAM-VALUE");
      if (line[i] === "\\" && ['"', "\\", "]"].includes(line[i + 1]!)) i++;
      else if (line[i] === "]") throw new Error("an unescaped ] inside a PARAM-VALUE");
      value += line[i];
    }
    params[name[1]!] = value;
    i++;
  }
  if (line[i] !== "]" || line[i + 1] !== " ") throw new Error(`SD-ELEMENT not closed at ${i}: ${line.slice(i)}`);
  const [, pri, version, timestamp, hostname, appName, procId, msgId] = head;
  return { pri: Number(pri), version: version!, timestamp: timestamp!, hostname: hostname!, appName: appName!, procId: procId!, msgId: msgId!, sdId, params, msg: line.slice(i + 2) };
}

async function udpReceiver() {
  const socket = dgram.createSocket("udp4");
  const datagrams: string[] = [];
  let arrived: () => void = () => {};
  socket.on("message", (b) => {
    datagrams.push(b.toString("utf8"));
    arrived();
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  stops.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  const next = () => (datagrams.length ? Promise.resolve() : new Promise<void>((resolve) => (arrived = resolve)));
  return { port: socket.address().port, datagrams, next };
}

async function tcpReceiver() {
  const streams: string[] = [];
  const server = net.createServer((s) => {
    const chunks: Buffer[] = [];
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("end", () => streams.push(Buffer.concat(chunks).toString("utf8")));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  stops.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const until = async (n: number) => {
    for (let i = 0; i < 200 && streams.length < n; i++) await Bun.sleep(10);
  };
  return { port: (server.address() as net.AddressInfo).port, streams, until };
}

/** RFC 6587 octet counting: "LEN SP MSG", LEN counting the octets of MSG. */
function octetFrames(stream: string): string[] {
  const bytes = Buffer.from(stream, "utf8");
  const frames: string[] = [];
  let i = 0;
  while (i < bytes.length) {
    const space = bytes.indexOf(0x20, i);
    const len = Number(bytes.subarray(i, space).toString());
    if (!Number.isInteger(len) || len <= 0) throw new Error(`bad frame length at ${i}`);
    frames.push(bytes.subarray(space + 1, space + 1 + len).toString("utf8"));
    i = space + 1 + len;
  }
  if (i !== bytes.length) throw new Error("a frame longer than the stream");
  return frames;
}

const TRICKY = { hostname: 'web"1]\\x', luser: "al]ice", suser: 'ro"ot', command: "echo a\nlogger fake line\r\n<13>1 forged" };

describe("syslog", () => {
  test("UDP: one RFC 5424 datagram, PRI 82 for authpriv + critical, SD values escaped, one line", async () => {
    const rx = await udpReceiver();
    await send(channel({ name: "sys", type: "syslog", address: `127.0.0.1:${rx.port}` }), alert(TRICKY));
    await rx.next();
    const raw = rx.datagrams[0]!;
    expect(raw).not.toMatch(/[\r\n]/);
    const p = parse5424(raw);
    expect(p.pri).toBe(82);
    expect(p.version).toBe("1");
    expect(p.timestamp).toBe("2024-01-02T03:04:07.123456Z");
    expect(p.appName).toBe("cmdaudit");
    expect(p.procId).toBe(String(process.pid));
    expect(p.msgId).toBe("alert");
    expect(p.sdId).toBe("cmdaudit@32473");
    expect(p.params).toEqual({ rule: "credentials.shadow-read", severity: "critical", host: 'web"1]\\x', luser: "al]ice", suser: 'ro"ot', delivery: "dlv-0001", count: "1" });
    expect(p.msg).toContain("echo a\\nlogger fake line\\r\\n<13>1 forged");
  });

  test("TCP: octet-counted frames; facility and severity map to PRI (local3 + warning = 156, info = 158)", async () => {
    const rx = await tcpReceiver();
    const c = channel({ name: "sys", type: "syslog", address: `127.0.0.1:${rx.port}`, protocol: "tcp", facility: "local3", app_name: "audit-x", min_severity: "info" });
    await send(c, alert({ ...TRICKY, severity: "warning", command: "中文 ünïcode\nline2" }));
    await send(c, alert({ severity: "info", kind: "repeat", count: 4 }));
    await rx.until(2);
    const frames = rx.streams.flatMap(octetFrames);
    expect(frames).toHaveLength(2);
    const [a, b] = frames.map(parse5424);
    expect(a!.pri).toBe(19 * 8 + 4);
    expect(a!.appName).toBe("audit-x");
    expect(a!.msg).toContain("中文 ünïcode\\nline2");
    expect(b!.pri).toBe(19 * 8 + 6);
    expect(b!.msgId).toBe("repeat");
    expect(b!.params.count).toBe("4");
  });

  test("TCP with nobody listening: a ChannelError", async () => {
    const rx = await tcpReceiver();
    await stops.pop()!();
    const e = await failure(send(channel({ name: "sys", type: "syslog", address: `127.0.0.1:${rx.port}`, protocol: "tcp" })));
    expect(e.message).toStartWith("syslog channel sys:");
  });
});

// ---------------------------------------------------------------- config

const problems = (raw: unknown): string[] => {
  const r = channelSchema.safeParse(raw);
  return r.success ? [] : describeIssues(r.error.issues);
};

describe("channel config", () => {
  test("defaults: min_severity warning, timeout 10 s; smtp port 25 with STARTTLS; syslog udp, authpriv, cmdaudit", () => {
    const hook = channelSchema.parse({ name: "h", type: "webhook", url: "https://example.com/x" });
    expect(hook).toMatchObject({ min_severity: "warning", timeout_seconds: 10 });
    expect(channelSchema.parse({ name: "m", type: "smtp", host: "mx.example.com", from: "a@example.com", to: ["b@example.com"] }))
      .toMatchObject({ port: 25, tls: "starttls" });
    expect(channelSchema.parse({ name: "s", type: "syslog", address: "log.example.com:514" })).toMatchObject({ protocol: "udp", facility: "authpriv", app_name: "cmdaudit" });
  });

  test("secret and secret_file both: an error naming the keys", () => {
    expect(problems({ name: "h", type: "webhook", url: "https://example.com/x", secret: WEBHOOK_SECRET, secret_file: "/run/secret" }))
      .toEqual(["secret_file: give secret or secret_file, not both"]);
    expect(problems({ name: "d", type: "dingtalk", url: "https://example.com/x", url_file: "/run/url" })).toEqual(["url_file: give url or url_file, not both"]);
  });

  test("a robot needs url or url_file; a password needs TLS unless the relay is on the loopback", () => {
    expect(problems({ name: "w", type: "wecom" })).toEqual(["url: give url or url_file"]);
    const mail = { name: "m", type: "smtp", from: "a@example.com", to: ["b@example.com"], tls: "none", username: "u", password: "p" };
    expect(problems({ ...mail, host: "mx.example.com" })).toEqual(["tls: AUTH sends the password: use tls starttls or implicit (or a relay on the loopback)"]);
    expect(problems({ ...mail, host: "127.0.0.1" })).toEqual([]);
    expect(problems({ ...mail, host: "127.0.0.1", password: undefined })).toEqual(["password: give password or password_file"]);
  });

  test("bad values: url scheme, short webhook secret, name, timeout, address, recipients, unknown key; messages never echo a value", () => {
    const secretish = "file:///etc/passwd?token=abcdef";
    expect(problems({ name: "h", type: "webhook", url: secretish })).toEqual(["url: must be an http:// or https:// URL (without user:password@)"]);
    expect(problems({ name: "h", type: "webhook", url: "https://user:pw@example.com/" })).toHaveLength(1);
    expect(problems({ name: "h", type: "webhook", url: "https://example.com/", secret: "short" })).toEqual(["secret: a webhook secret must be at least 16 characters"]);
    expect(problems({ name: "Bad Name", type: "slack", url: "https://example.com/" })[0]).toStartWith("name:");
    expect(problems({ name: "h", type: "slack", url: "https://example.com/", timeout_seconds: 121 })[0]).toStartWith("timeout_seconds:");
    expect(problems({ name: "s", type: "syslog", address: "log.example.com" })).toEqual(["address: address is host:port (or [IPv6]:port)"]);
    expect(problems({ name: "s", type: "syslog", address: "[::1]:70000" })).toEqual(["address: the port must be 1-65535"]);
    expect(problems({ name: "m", type: "smtp", host: "mx", from: "a@example.com", to: [] })[0]).toStartWith("to:");
    expect(problems({ name: "h", type: "slack", url: "https://example.com/", token: "x" })).toEqual(["unknown key(s) token"]);
    for (const p of problems({ name: "h", type: "webhook", url: secretish, secret: "tiny-secret" })) expect(p).not.toContain("tiny-secret");
  });

  test("an unknown type names the types there are", () => {
    expect(problems({ name: "x", type: "pagerduty", url: "https://example.com/" })).toEqual(["type: one of webhook, slack, dingtalk, feishu, wecom, smtp, syslog"]);
  });

  test("secret files are read at creation: a missing file or a short secret is a ConfigError naming key and file", () => {
    const missing = join(dir, "no-such-file");
    expect(() => channel({ name: "d", type: "dingtalk", url_file: missing })).toThrow(`channel d: url_file: cannot read ${missing}: ENOENT`);
    const short = join(dir, "short-secret");
    writeFileSync(short, "too-short\n");
    expect(() => channel({ name: "h", type: "webhook", url: "https://example.com/", secret_file: short })).toThrow(`channel h: secret_file: the first line of ${short} is shorter than 16 characters`);
    const notUrl = join(dir, "not-a-url");
    writeFileSync(notUrl, "ftp://example.com/hook-token-123\n");
    const e = (() => {
      try {
        channel({ name: "s", type: "slack", url_file: notUrl });
      } catch (err) {
        return err as Error;
      }
      throw new Error("expected a ConfigError");
    })();
    expect(e.message).toContain("url_file");
    expect(e.message).not.toContain("hook-token-123");
  });

  test("createChannels: one channel per entry, names once each", () => {
    const cfgs: ChannelConfig[] = [
      channelSchema.parse({ name: "a", type: "syslog", address: "127.0.0.1:514", min_severity: "critical" }),
      channelSchema.parse({ name: "b", type: "webhook", url: "https://example.com/" }),
    ];
    expect(createChannels(cfgs).map((c) => [c.name, c.type, c.minSeverity])).toEqual([["a", "syslog", "critical"], ["b", "webhook", "warning"]]);
    expect(() => createChannels([cfgs[0]!, cfgs[0]!])).toThrow("two channels are named a");
  });
});
