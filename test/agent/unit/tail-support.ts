/** What the reporter's tail unit tests share: a temp root per file, fresh log dirs in it, event sinks, hook records. */
import { afterAll } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EncodableRecord, encodeRecord, formatCommandTime } from "../../../protocol/index.ts";

/** A temp root removed after the file (append-only flags cleared first: sealed files carry them); `logDir()` makes a fresh dir in it. */
export function tailRoot(prefix: string): { logDir(): { dir: string; live: string } } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => {
    Bun.spawnSync(["chattr", "-R", "-a", root], { stdout: "ignore", stderr: "ignore" });
    rmSync(root, { recursive: true, force: true });
  });
  let dirs = 0;
  return {
    logDir() {
      const dir = join(root, String(dirs++));
      mkdirSync(dir);
      return { dir, live: join(dir, "commands.log") };
    },
  };
}

/** The warn and loss sinks the tail functions report to, with what they were told. */
export function events() {
  const warns: string[] = [];
  const losses: string[] = [];
  return { warns, losses, warn: (m: string) => warns.push(m), loss: (t: string) => losses.push(t) };
}

/** One record as the hook writes it; a command longer than `chunk` bytes takes part lines too. */
export function record(seq: number, command = `echo ${seq}`, chunk?: number, over: Partial<EncodableRecord> = {}): Buffer {
  return Buffer.from(encodeRecord({
    kind: "command", ctime: formatCommandTime(1_760_000_000_000_000 + seq, 0), hostname: "h1", serverIps: "10.0.0.1", suser: "root",
    luser: "alice", terminal: "pts/0", clientIp: "10.0.0.9", sessionId: "s1", seq, cwd: "/root", exitStatus: 0, command, ...over,
  }, chunk));
}
