// Isolate every test run from the developer's machine: own HOME, no CMDAUDIT_* settings leaking in.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

process.env.HOME = mkdtempSync(join(tmpdir(), "cmdaudit-test-home-"));
// CMDAUDIT_BASH_DIR / CMDAUDIT_BASH_VERSIONS choose the test's bash builds (test/support/bashes.ts), not a setting.
for (const k of Object.keys(process.env)) if (k.startsWith("CMDAUDIT_") && !k.startsWith("CMDAUDIT_BASH_")) delete process.env[k];
