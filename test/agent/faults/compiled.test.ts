/** The fault suite against the compiled reporter: the binary from reporterBinary(), a YAML config. */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { INGEST_TOKEN } from "../../support/config.ts";
import { reporterBinary } from "../support.ts";
import type { Knobs, ReporterDriver, RunOptions, Spawned, Status } from "./driver.ts";
import { faultSuite } from "./scenarios.ts";
import { FAKETIME_LIB, spawnGroup } from "./support.ts";

let binary = "";
const configPath = (dir: string) => join(dir, "reporter.yml");

function env(dir: string, opts: RunOptions = {}): Record<string, string> {
  const e: Record<string, string> = { PATH: "/usr/bin:/bin", HOME: dir, TZ: "Asia/Shanghai" };
  if (opts.clockOffset !== undefined) {
    // libfaketime, preloaded into the Bun binary: wall clock shifted, monotonic clock left alone.
    Object.assign(e, { LD_PRELOAD: FAKETIME_LIB, FAKETIME: opts.clockOffset, FAKETIME_DONT_FAKE_MONOTONIC: "1", FAKETIME_NO_CACHE: "1" });
  }
  return e;
}

function spawn(dir: string, args: string[], opts?: RunOptions): Spawned {
  return spawnGroup([binary, "-c", configPath(dir), ...args], env(dir, opts));
}

const compiled: ReporterDriver = {
  name: "compiled",
  async prepare() {
    binary = await reporterBinary();
  },
  configure(dir: string, k: Knobs) {
    const log: Record<string, unknown> = { path: k.log, rotate_grace_seconds: k.rotateGraceSeconds };
    if (k.rotateBytes !== undefined) log.rotate_bytes = k.rotateBytes;
    const run: Record<string, unknown> = { budget_seconds: k.budgetSeconds, attempts: 5, backoff_ms: 100 };
    if (k.unfinishedSeconds !== undefined) run.unfinished_seconds = k.unfinishedSeconds;
    const config = {
      server: { url: k.url, token: INGEST_TOKEN, timeout_seconds: k.timeoutSeconds },
      log,
      state_dir: k.stateDir,
      batch: { bytes: k.batchBytes },
      run,
    };
    writeFileSync(configPath(dir), stringify(config), { mode: 0o600 });
  },
  spawn(dir, opts) {
    return spawn(dir, ["run"], opts);
  },
  async status(dir): Promise<Status> {
    const r = await spawn(dir, ["status", "--json"]).done;
    let lastError: string | null = null;
    let lastSuccessMs: number | null = null;
    if (r.code === 0) {
      const s = JSON.parse(r.stdout) as { lastError: string | null; lastSuccess: string | null };
      lastError = s.lastError;
      lastSuccessMs = s.lastSuccess === null ? null : Date.parse(s.lastSuccess);
    }
    return { code: r.code, text: r.stdout + r.stderr, lastError, lastSuccessMs };
  },
  reporterId(stateDir) {
    const f = join(stateDir, "state.json");
    if (!existsSync(f)) return null;
    try {
      return (JSON.parse(readFileSync(f, "utf8")) as { reporterId?: string }).reporterId ?? null;
    } catch {
      return null;
    }
  },
  deadLetters(stateDir) {
    const f = join(stateDir, "deadletter.ndjson");
    if (!existsSync(f)) return "";
    return readFileSync(f, "utf8").split("\n").filter((l) => l !== "").map((l) => {
      const d = JSON.parse(l) as { reason: string; raw?: string; rawB64?: string };
      return `${d.reason}\n${d.raw ?? Buffer.from(d.rawB64 ?? "", "base64").toString("latin1")}`;
    }).join("\n");
  },
};

faultSuite(compiled);
