/**
 * The real bash builds the hook is proven on (`../shared/bash/<version>/bash`, see its README):
 * every hook test and the hook bench run once per version. The directory is
 * CMDAUDIT_BASH_DIR, else `shared/bash` beside the repository, else /work/shared/bash.
 * In CI a missing directory or build fails the run; elsewhere the system bash stands alone.
 */
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface Bash {
  /** "4.4.19", or "system" for the machine's own bash. */
  version: string;
  /** Absolute path of the binary. */
  path: string;
  major: number;
  minor: number;
}

/** The versions the hook must work on; CI fails if one is missing. */
export const REQUIRED_VERSIONS = ["4.1.11", "4.2.45", "4.3.46", "4.4.19", "5.0.18", "5.1.4", "5.1.8", "5.2.15", "5.3.9"];

const repo = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

export function bashDir(): string | undefined {
  const candidates = [process.env.CMDAUDIT_BASH_DIR, join(repo, "..", "shared", "bash"), "/work/shared/bash"];
  return candidates.find((d): d is string => !!d && existsSync(d));
}

function parse(version: string, path: string): Bash {
  const [major, minor] = version.split(".").map(Number);
  return { version, path, major: major!, minor: minor! };
}

function load(): Bash[] {
  const dir = bashDir();
  const found = dir
    ? readdirSync(dir).filter((v) => /^\d+\.\d+\.\d+$/.test(v) && existsSync(join(dir, v, "bash"))).map((v) => parse(v, join(dir, v, "bash")))
    : [];
  const missing = REQUIRED_VERSIONS.filter((v) => !found.some((b) => b.version === v));
  if (missing.length && process.env.CI === "true") {
    throw new Error(`real bash builds missing (${missing.join(", ")}): set CMDAUDIT_BASH_DIR to the shared/bash directory`);
  }
  if (!found.length) {
    const v = Bun.spawnSync(["bash", "-c", "echo ${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]}.${BASH_VERSINFO[2]}"]).stdout.toString().trim();
    return [{ ...parse(v, "/bin/bash"), version: "system" }];
  }
  return found.sort((a, b) => a.major - b.major || a.minor - b.minor || a.version.localeCompare(b.version, undefined, { numeric: true }));
}

/**
 * Every version found, or the ones CMDAUDIT_BASH_VERSIONS names (comma-separated, e.g.
 * "4.1.11,5.2.15") when a developer wants a quick run.
 */
export const BASHES: Bash[] = (() => {
  const all = load();
  const only = process.env.CMDAUDIT_BASH_VERSIONS?.split(",").map((s) => s.trim()).filter(Boolean);
  if (!only?.length) return all;
  const picked = all.filter((b) => only.includes(b.version));
  if (picked.length !== only.length) throw new Error(`CMDAUDIT_BASH_VERSIONS names versions not found: ${only.join(",")}`);
  return picked;
})();

/** True when `b` is at least major.minor. */
export const atLeast = (b: Bash, major: number, minor: number) => b.major > major || (b.major === major && b.minor >= minor);
