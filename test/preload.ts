// Isolate every test run from the developer's machine: own HOME, own temp root, no CMDAUDIT_* settings leaking in.
import { afterAll } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// One temp root per test process: os.tmpdir() (and children given process.env) point into it, and it goes
// after the last file. A test killed midway leaves only this one directory behind.
const root = mkdtempSync(join(tmpdir(), `cmdaudit-test-${process.pid}-`));
// Traversable, not listable: the shells of other users (runuser, su -) in the hook and reporter tests reach files inside.
chmodSync(root, 0o711);
process.env.TMPDIR = root;
process.env.HOME = join(root, "home");
mkdirSync(process.env.HOME);

afterAll(() => {
  try {
    rmSync(root, { recursive: true, force: true });
  } catch {
    // Sealed files of the reporter tests are append-only (chattr +a) and cannot be removed until the flag is cleared.
    Bun.spawnSync(["chattr", "-R", "-a", "-i", root], { stdout: "ignore", stderr: "ignore" });
    rmSync(root, { recursive: true, force: true });
  }
});

// CMDAUDIT_BASH_DIR / CMDAUDIT_BASH_VERSIONS choose the test's bash builds (test/support/bashes.ts), not a setting.
for (const k of Object.keys(process.env)) if (k.startsWith("CMDAUDIT_") && !k.startsWith("CMDAUDIT_BASH_")) delete process.env[k];
