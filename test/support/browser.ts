/**
 * Debian's Chromium (/usr/bin/chromium), headless, driven by playwright-core over the DevTools
 * protocol: no browser download. Started by us (a WebSocket, not Playwright's pipes, which Bun's
 * child processes do not give it) and killed with its whole process group afterwards.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = process.env.CMDAUDIT_CHROMIUM ?? "/usr/bin/chromium";

export interface RunningBrowser {
  browser: Browser;
  close(): Promise<void>;
}

export async function startChromium(): Promise<RunningBrowser> {
  const profile = mkdtempSync(join(tmpdir(), "cmdaudit-chromium-"));
  // Its own temporary files (org.chromium.Chromium.*) go under the profile, removed with it.
  const tmp = join(profile, "tmp");
  mkdirSync(tmp);
  // setsid: its renderers and zygote form one process group, killed whole at the end.
  const proc = Bun.spawn(["setsid", CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", `--user-data-dir=${join(profile, "data")}`, "about:blank"], {
    stdout: "ignore", stderr: "pipe", env: { ...process.env, TMPDIR: tmp },
  });
  const reader = proc.stderr.getReader();
  const dec = new TextDecoder();
  let text = "";
  let ws: string | undefined;
  const deadline = Date.now() + 30_000;
  while (!ws) {
    const chunk = await Promise.race([reader.read(), Bun.sleep(Math.max(0, deadline - Date.now())).then(() => "timeout" as const)]);
    if (chunk === "timeout" || chunk.done) {
      proc.kill("SIGKILL");
      throw new Error(`chromium did not start: ${text.slice(-500)}`);
    }
    text += dec.decode(chunk.value, { stream: true });
    ws = /DevTools listening on (ws:\/\/\S+)/.exec(text)?.[1];
  }
  void (async () => { while (!(await reader.read()).done); })(); // keep draining its stderr
  const browser = await chromium.connectOverCDP(ws);
  return {
    browser,
    async close() {
      await browser.close().catch(() => {});
      try {
        process.kill(-proc.pid, "SIGKILL");
      } catch {
        // gone already
      }
      await proc.exited;
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
