import { accessSync, closeSync, constants, mkdirSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { Config } from "./run.ts";
import { EXIT, hostUtcOffset } from "./run.ts";
import { isAppendOnly } from "./libc.ts";
import { describeRedaction } from "./redaction.ts";
import { createShipper, ServerRefused, ServerUnreachable } from "./ship.ts";
import { loadState } from "./state.ts";
import { LOG_MODE } from "./tail/rotate.ts";

/** Is everything in place for the hook to write and this reporter to ship? One line per check. */
export async function check(cfg: Config): Promise<number> {
  let code: number = EXIT.ok;
  const ok = (m: string) => process.stdout.write(`ok    ${m}\n`);
  const fail = (m: string, c: number) => {
    process.stdout.write(`FAIL  ${m}\n`);
    if (code === EXIT.ok) code = c;
  };
  ok("config is valid");
  // Whether commands leave this host redacted: a key that is on and cannot be read fails (run would stop, exit 2).
  const redaction = describeRedaction(cfg);
  if (redaction.problem && !redaction.on) fail(redaction.problem, EXIT.config);
  else if (redaction.problem) fail(redaction.problem, EXIT.stuck);
  else if (redaction.on) ok(`redaction ${redaction.text}`);
  else process.stdout.write(`note  redaction ${redaction.text}\n`);

  const log = cfg.log.path;
  try {
    const st = statSync(log);
    const mode = st.mode & 0o7777;
    if (!st.isFile()) fail(`${log} is not a regular file`, EXIT.stuck);
    else if (mode !== LOG_MODE || st.uid !== 0) fail(`${log} is mode ${mode.toString(8)} owner uid ${st.uid}; the hook needs mode 622 owned by root (users append, nobody else reads)`, EXIT.stuck);
    else ok(`${log} exists, mode 622, owned by root`);
    const dirMode = statSync(dirname(log)).mode;
    if (dirMode & 0o002) fail(`${dirname(log)} is world-writable: users could replace the log`, EXIT.stuck);
    const fd = openSync(log, "r");
    const ao = isAppendOnly(fd);
    closeSync(fd);
    if (ao === null) ok(`${log}: the filesystem has no append-only flag (mode 622 still keeps users from reading it)`);
    else if (ao) ok(`${log} is append-only`);
    else fail(`${log} is not append-only (chattr +a): users could truncate it with >`, EXIT.stuck);
  } catch (e) {
    fail(`${log}: ${(e as NodeJS.ErrnoException).code ?? "error"}; the hook cannot write its records`, EXIT.stuck);
  }
  try {
    mkdirSync(cfg.state_dir, { recursive: true, mode: 0o700 });
    accessSync(cfg.state_dir, constants.W_OK);
    const mode = statSync(cfg.state_dir).mode & 0o777;
    if (mode & 0o077) fail(`${cfg.state_dir} is mode ${mode.toString(8)}; it should be 700`, EXIT.stuck);
    else ok(`${cfg.state_dir} is writable`);
  } catch (e) {
    fail(`${cfg.state_dir}: ${(e as NodeJS.ErrnoException).code ?? "error"}`, EXIT.stuck);
  }
  try {
    // The last run found a file it could not move on while the server answered (exit 6).
    const stuck = loadState(cfg.state_dir).stuck;
    if (stuck) fail(stuck, EXIT.stuck);
    else ok("no file is stuck");
  } catch (e) {
    fail(`cannot read the reporter's state: ${(e as Error).message}`, EXIT.config);
  }
  try {
    // An empty body: the server checks the token and answers without storing anything.
    await createShipper({ ...cfg, run: { ...cfg.run, attempts: 1 } }, hostUtcOffset(cfg), Date.now() + cfg.server.timeout_seconds * 1000 + 1000).postRaw(new Uint8Array(0), false);
    ok(`server ${new URL(cfg.server.url).origin} accepts the ingest token`);
  } catch (e) {
    if (e instanceof ServerRefused) fail(e.message, EXIT.refused);
    else if (e instanceof ServerUnreachable) fail(e.message, EXIT.unreachable);
    else throw e;
  }
  return code;
}
