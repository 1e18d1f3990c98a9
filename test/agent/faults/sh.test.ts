/** The fault suite against the POSIX sh reporter: the script under /bin/sh (dash), a KEY=value config. */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { INGEST_TOKEN } from "../../support/config.ts";
import { SCRIPT } from "../sh-support.ts";
import type { Knobs, ReporterDriver, RunOptions, Spawned, Status } from "./driver.ts";
import { faultSuite } from "./scenarios.ts";
import { spawnGroup } from "./support.ts";

const SHELL = "/bin/sh";
const confPath = (dir: string) => join(dir, "reporter.conf");

function spawn(dir: string, cmd: string, opts: RunOptions = {}): Spawned {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin:/usr/sbin:/sbin", HOME: dir };
  const argv = [SHELL, SCRIPT, "-c", confPath(dir), cmd];
  if (opts.clockOffset !== undefined) {
    // faketime(1): the script and every tool it runs see the shifted wall clock; monotonic left alone.
    env.FAKETIME_DONT_FAKE_MONOTONIC = "1";
    return spawnGroup(["faketime", "-f", opts.clockOffset, ...argv], env);
  }
  return spawnGroup(argv, env);
}

function stateValue(stateDir: string, key: string): string | null {
  const f = join(stateDir, "state");
  if (!existsSync(f)) return null;
  for (const l of readFileSync(f, "utf8").split("\n")) if (l.startsWith(key + "=")) return l.slice(key.length + 1) || null;
  return null;
}

const sh: ReporterDriver = {
  name: "sh",
  async prepare() {
    const dash = Bun.spawnSync(["readlink", "-f", SHELL]).stdout.toString().trim();
    if (!dash.endsWith("dash")) throw new Error(`${SHELL} is ${dash}, not dash`);
  },
  configure(dir: string, k: Knobs) {
    const token = join(dir, "token");
    writeFileSync(token, INGEST_TOKEN + "\n", { mode: 0o600 });
    const c: Record<string, string> = {
      URL: k.url, TOKEN_FILE: token, LOG: k.log, STATE_DIR: k.stateDir,
      BATCH_BYTES: String(k.batchBytes), TIMEOUT: String(k.timeoutSeconds), BUDGET: String(k.budgetSeconds),
      ROTATE_GRACE: String(k.rotateGraceSeconds),
    };
    if (k.rotateBytes !== undefined) c.ROTATE_BYTES = String(k.rotateBytes);
    if (k.unfinishedSeconds !== undefined) c.UNFINISHED_SECONDS = String(k.unfinishedSeconds);
    writeFileSync(confPath(dir), "# cmdaudit reporter, fault suite\n" + Object.entries(c).map(([key, v]) => `${key}=${v}`).join("\n") + "\n");
  },
  spawn(dir, opts) {
    return spawn(dir, "run", opts);
  },
  async status(dir): Promise<Status> {
    const r = await spawn(dir, "status").done;
    const field = (k: string) => new RegExp(`^${k}: (.*)$`, "m").exec(r.stdout)?.[1] ?? null;
    const err = field("last_error");
    const ok = field("last_success");
    const okMs = ok === null ? NaN : Date.parse(ok);
    return { code: r.code, text: r.stdout + r.stderr, lastError: err === null || err === "none" ? null : err, lastSuccessMs: Number.isNaN(okMs) ? null : okMs };
  },
  reporterId(stateDir) {
    return stateValue(stateDir, "REPORTER_ID");
  },
  deadLetters(stateDir) {
    const d = join(stateDir, "deadletter");
    if (!existsSync(d)) return "";
    return readdirSync(d).sort().map((f) => readFileSync(join(d, f), "latin1")).join("\n");
  },
};

faultSuite(sh);
