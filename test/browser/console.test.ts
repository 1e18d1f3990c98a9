/**
 * The console in a real browser: Debian's Chromium driven by playwright-core, against the real
 * server process (SQLite) over loopback, its people made with the server's own CLI. Screenshots go
 * to test-artifacts/console/. In CI (CI=true) a missing Chromium fails the run.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { encodeRecord, type EncodableRecord } from "../../protocol/index.ts";
import { CHROMIUM, type RunningBrowser, startChromium } from "../support/browser.ts";
import { type RunningServer, startServer } from "../support/server.ts";

if (!existsSync(CHROMIUM) && process.env.CI === "true") throw new Error(`not installed: ${CHROMIUM} (apt package chromium): the console's browser tests need it`);

const SHOTS = join(import.meta.dir, "../../test-artifacts/console");
const INGEST = "ingest-token-for-the-browser-tests";
const READ = "read-token-for-the-browser-tests";
const PASSWORD = "a password for the browser";
const dir = mkdtempSync(join(tmpdir(), "cmdaudit-browser-"));
const env = {
  CMDAUDIT_DATA_DIR: dir, CMDAUDIT_DATABASE_URL: `sqlite:${join(dir, "cmdaudit.db")}`, CMDAUDIT_INGEST_TOKENS: INGEST, CMDAUDIT_READ_TOKENS: READ, CMDAUDIT_CONFIG: join(dir, "server.yml"),
};
let server: RunningServer;
let chromium: RunningBrowser;

const rec = (seq: number, over: Partial<EncodableRecord> = {}): EncodableRecord => ({
  kind: "command", ctime: `2024-03-01T12:00:${String(seq).padStart(2, "0")}+08:00`, hostname: "web-1", serverIps: "10.0.0.1", suser: "root", luser: "alice",
  terminal: "pts/0", clientIp: "192.0.2.7", sessionId: "tr-1", seq, cwd: "/root", exitStatus: 0, command: `echo ${seq}`, ...over,
});
/** Commands in the long session: the first screen (100) and then pages the script fetches. */
const LONG = 1300;
const XSS = ["<script>window.__xss=1</script>", `<img src=x onerror="window.__xss=2">`, `"><svg onload="window.__xss=3">`];
const RECORDS = [
  rec(1, { kind: "session_start", command: "" }),
  rec(2, { command: "for i in 1 2\ndo echo $i\ndone" }),
  rec(3, { command: Uint8Array.from([...Buffer.from("echo caf"), 0xe9, 0xff]) }),
  ...XSS.map((command, i) => rec(4 + i, { command })),
  // seqs 7-8 never arrive
  rec(9, { kind: "loss", command: "cmdaudit hook: 2 record(s) could not be written to the log" }),
  rec(10, { command: "echo last", exitStatus: 1 }),
];

async function cli(args: string[], stdin = ""): Promise<string> {
  const p = Bun.spawn(["bun", join(import.meta.dir, "../../server/src/main.ts"), "user", ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, ...env }, stdin: Buffer.from(stdin), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`user ${args.join(" ")}: ${err}`);
  return out;
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  writeFileSync(env.CMDAUDIT_CONFIG, "console:\n  host_groups:\n    web: [\"web-*\"]\n");
  await cli(["add", "ada", "--role", "admin", "--password-stdin"], `${PASSWORD}\n`);
  server = await startServer(env);
  const long = Array.from({ length: LONG }, (_, i) => rec(i + 1, { sessionId: "long-1", command: `true ${i + 1}`, ctime: `2024-02-28T12:${String(Math.floor(i / 60)).padStart(2, "0")}:${String(i % 60).padStart(2, "0")}+08:00` }));
  for (const batch of [RECORDS, long]) {
    const body = Buffer.concat(batch.map((r) => Buffer.from(encodeRecord(r))));
    const res = await fetch(`${server.url}/api/v1/ingest/raw`, { method: "POST", headers: { Authorization: `Bearer ${INGEST}` }, body });
    expect(((await res.json()) as { accepted: number }).accepted).toBe(batch.length);
  }
  chromium = await startChromium();
}, 60_000);

afterAll(async () => {
  await chromium?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

/** A new browser context (its own cookies and storage), signed in as ada. */
async function signedIn(opts: Parameters<RunningBrowser["browser"]["newContext"]>[0] = {}): Promise<{ ctx: BrowserContext; page: Page; dialogs: string[] }> {
  const ctx = await chromium.browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 800 }, ...opts });
  const page = await ctx.newPage();
  const dialogs: string[] = [];
  page.on("dialog", (d) => { dialogs.push(d.message()); void d.dismiss(); });
  await page.goto(`${server.url}/`);
  expect(new URL(page.url()).pathname).toBe("/login");
  await page.fill("input[name=user]", "ada");
  await page.fill("input[name=password]", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL(`${server.url}/`);
  return { ctx, page, dialogs };
}

describe("the console in Chromium", () => {
  test("sign in, search by text: the matches marked; command text that is markup stays text and runs nothing", async () => {
    const { ctx, page, dialogs } = await signedIn();
    await page.screenshot({ path: join(SHOTS, "01-search-all.png"), fullPage: true });
    await page.fill("#q", "window.__xss");
    await page.press("#q", "Enter");
    await page.waitForURL(/q=window.__xss/);
    expect(await page.locator("table.records tbody tr").count()).toBe(3);
    expect(await page.locator("mark.hit").count()).toBe(3);
    const cells = await page.locator("td.cmd a").allTextContents();
    expect(cells.map((c) => c.replace(/\s+$/, "")).sort()).toEqual([...XSS].sort());
    expect(await page.evaluate("window.__xss")).toBeUndefined();
    expect(await page.locator("table.records img, table.records svg, table.records script").count()).toBe(0);
    expect(dialogs).toEqual([]);
    await page.screenshot({ path: join(SHOTS, "02-search-xss.png"), fullPage: true });
    await ctx.close();
  }, 60_000);

  test("keyboard only: / to the search box, j to the first row, Enter opens its command in the transcript", async () => {
    const { ctx, page } = await signedIn();
    // The search box has the focus when the page opens: "/" there is text (commands hold slashes). Elsewhere it jumps there.
    expect(await page.evaluate("document.activeElement?.id")).toBe("q");
    await page.evaluate("document.activeElement.blur()");
    await page.keyboard.press("/");
    expect(await page.evaluate("document.activeElement?.id")).toBe("q");
    await page.keyboard.type("echo last");
    await page.keyboard.press("Enter");
    await page.waitForURL(`${server.url}/?q=echo+last`); // empty fields stay out of the URL
    await page.evaluate("document.activeElement.blur()");
    await page.keyboard.press("j");
    expect(await page.evaluate("document.activeElement?.getAttribute('data-href')")).toBe("/sessions/tr-1?host=web-1#seq-10");
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/sessions\/tr-1\?host=web-1#seq-10$/);
    expect(await page.evaluate("document.activeElement?.id")).toBe("seq-10");
    await ctx.close();
  }, 60_000);

  test("a transcript: multi-line and non-UTF-8 commands shown faithfully, the gap, the loss and the missing end where they happen; a deep link lands on its command", async () => {
    const { ctx, page } = await signedIn();
    await page.goto(`${server.url}/sessions/tr-1#seq-9`);
    expect(await page.evaluate("document.querySelector(':target')?.id")).toBe("seq-9");
    const text = await page.locator("#transcript").innerText();
    expect(text).toContain("for i in 1 2\ndo echo $i\ndone");
    expect(await page.locator("#seq-3 mark.bad").count()).toBe(2); // é and ÿ as Latin-1 bytes: two bad bytes
    expect(await page.locator("#seq-3 .cmd").innerText()).toBe("echo caf��");
    const order = ["session start", "for i in 1 2", "echo caf", "seqs 7–8 never arrived (2 records missing)", "2 record(s) could not be written", "echo last", "no session end"];
    const at = order.map((s) => text.indexOf(s));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    await page.screenshot({ path: join(SHOTS, "03-transcript.png"), fullPage: true });
    await ctx.close();
  }, 60_000);

  test("a long session: the first screen at once, the rest fetched a page at a time; a deep link far down lands on its command", async () => {
    const { ctx, page } = await signedIn();
    await page.goto(`${server.url}/sessions/long-1#seq-1280`);
    await page.locator("#transcript-done").waitFor({ state: "attached", timeout: 30_000 });
    expect(await page.locator("#transcript .entry").count()).toBe(LONG);
    expect(await page.evaluate("document.activeElement?.id")).toBe("seq-1280");
    expect(await page.evaluate("document.getElementById('seq-1280').getBoundingClientRect().top > 0 && document.getElementById('seq-1280').getBoundingClientRect().top < innerHeight")).toBe(true);
    expect(await page.locator("#more").count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, "06-transcript-deep-link.png") });
    await ctx.close();
  }, 60_000);

  test("export: the NDJSON link downloads exactly the current query", async () => {
    const { ctx, page } = await signedIn();
    await page.goto(`${server.url}/?q=echo`);
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("text=NDJSON")]);
    const file = join(dir, "export.ndjson");
    await download.saveAs(file);
    const lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { command: string; seq: number });
    expect(lines.map((l) => l.seq).sort((a, b) => a - b)).toEqual([2, 3, 10]); // "echo $i", "echo caf…", "echo last"
    await ctx.close();
  }, 60_000);

  test("times: UTC by default, the viewer's zone on request (remembered), always with the offset; dark mode; a phone's width", async () => {
    const { ctx, page } = await signedIn({ timezoneId: "Asia/Shanghai", colorScheme: "dark" });
    const first = () => page.locator("table.records time").first().innerText();
    expect(await first()).toMatch(/^2024-03-01 04:00:\d\d \+00:00$/);
    await page.click("#tz-toggle");
    expect(await first()).toMatch(/^2024-03-01 12:00:\d\d \+08:00$/);
    await page.reload();
    expect(await first()).toMatch(/\+08:00$/);
    expect(await page.evaluate("getComputedStyle(document.body).backgroundColor")).toBe("rgb(13, 17, 23)");
    await page.screenshot({ path: join(SHOTS, "04-search-dark-local-time.png"), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(SHOTS, "05-search-phone.png"), fullPage: true });
    await ctx.close();
  }, 60_000);

  test("sign out: the page is gone, the back button shows nothing from the server", async () => {
    const { ctx, page } = await signedIn();
    await page.click("text=Sign out");
    await page.waitForURL(`${server.url}/login`);
    await page.goto(`${server.url}/hosts`);
    expect(new URL(page.url()).pathname).toBe("/login");
    await ctx.close();
  }, 60_000);
});
