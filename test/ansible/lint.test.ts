/** The roles and site.yml pass ansible-lint's strictest (production) profile, offline, and a syntax check. */
import { expect, test } from "bun:test";
import { join } from "node:path";

const DIR = join(import.meta.dir, "../../ansible");
const missing = ["ansible-lint", "ansible-playbook"].filter((t) => !Bun.which(t));
if (missing.length && process.env.CI === "true") throw new Error(`not installed: ${missing.join(", ")}`);

test.skipIf(missing.length > 0)("ansible-lint --offline, production profile: no findings", () => {
  const r = Bun.spawnSync(["ansible-lint", "--offline", "-p", "--nocolor"], { cwd: DIR, stdout: "pipe", stderr: "pipe", env: { ...process.env, ANSIBLE_CONFIG: join(DIR, "ansible.cfg") } });
  const out = r.stdout.toString() + r.stderr.toString();
  expect(out).toContain("Passed with production profile");
  expect(r.exitCode).toBe(0);
}, 120_000);

test.skipIf(missing.length > 0)("site.yml passes ansible-playbook --syntax-check with the example inventory", () => {
  const r = Bun.spawnSync(["ansible-playbook", "--syntax-check", "-i", "inventory/example/hosts.yml", "site.yml"], { cwd: DIR, stdout: "pipe", stderr: "pipe", env: { ...process.env, ANSIBLE_CONFIG: join(DIR, "ansible.cfg") } });
  expect(r.stderr.toString()).not.toContain("ERROR");
  expect(r.exitCode).toBe(0);
}, 60_000);
