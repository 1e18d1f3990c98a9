/**
 * The hook role takes the hook from the tree and sets its log path and stamping daemon port with the
 * same rules as agent/hook/log-path.ts: what the role would install is withStampPort(withLogPath())'s
 * output, byte for byte.
 * Runs the role's own vars and source check on localhost; nothing is installed.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HOOK_FILE, withLogPath, withStampPort } from "../../agent/hook/log-path.ts";

const ROLES = join(import.meta.dir, "../../ansible/roles");
const missing = !Bun.which("ansible-playbook");
if (missing && process.env.CI === "true") throw new Error("not installed: ansible-playbook");

const dir = mkdtempSync(join(tmpdir(), "cmdaudit-hook-role-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Paths a deployment could choose: plain, with a blank and a quote, with a `$`. */
const PATHS = ["/var/log/cmdaudit/commands.log", "/srv/audit logs/it's.log", "/srv/$HOME/a.log"];

/**
 * Run the role's source check, then write what the role would install for each path to <run>/out-<i>.sh.
 * The playbook sits in <run>/ansible beside a link to the tree's agent/, as site.yml sits in the tree:
 * without cmdaudit_hook_src the role's default finds the hook.
 */
function renderWithRole(vars: { cmdaudit_hook_src?: string; cmdaudit_hook_log_path?: string; cmdaudit_hook_stamp_port?: number } = {}): { code: number; out: string; run: string } {
  const run = mkdtempSync(join(dir, "run-"));
  mkdirSync(join(run, "ansible"));
  symlinkSync(join(import.meta.dir, "../../agent"), join(run, "agent"));
  const playbook = join(run, "ansible/render.yml");
  writeFileSync(playbook, JSON.stringify([{
    hosts: "localhost", connection: "local", gather_facts: false,
    tasks: [
      { name: "Check the hook source", "ansible.builtin.include_role": { name: "cmdaudit_hook", tasks_from: "source.yml", public: true } },
      {
        name: "Write the hook as the role would install it",
        "ansible.builtin.copy": { content: "{{ __cmdaudit_hook_script ~ '\n' }}", dest: `${run}/out-{{ i }}.sh`, mode: "0644", validate: "bash -n %s" },
        vars: { cmdaudit_hook_log_path: "{{ item }}" },
        loop: PATHS, loop_control: { index_var: "i" },
      },
    ],
  }]));
  const r = Bun.spawnSync(["ansible-playbook", "-i", "localhost,", "-e", JSON.stringify(vars), playbook], {
    cwd: run, stdout: "pipe", stderr: "pipe",
    env: { ...process.env, ANSIBLE_ROLES_PATH: ROLES, ANSIBLE_NOCOLOR: "1", ANSIBLE_RETRY_FILES_ENABLED: "false", ANSIBLE_LOCALHOST_WARNING: "false" },
  });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString(), run };
}

test.skipIf(missing)("the role installs the tree's hook (its default cmdaudit_hook_src) with its log path set as withLogPath sets it, quoted where needed", () => {
  const r = renderWithRole();
  expect(r.out).not.toContain("FAILED");
  expect(r.code).toBe(0);
  const hook = readFileSync(HOOK_FILE, "utf8");
  // The port: the reporter role's default daemon port (979).
  PATHS.forEach((path, i) => expect(readFileSync(join(r.run, `out-${i}.sh`), "utf8")).toBe(withStampPort(withLogPath(hook, path), 979)));
  // bash reads the path back as it was given.
  const quoted = readFileSync(join(r.run, "out-1.sh"), "utf8").split("\n").find((l) => l.startsWith("__cmdaudit_log="))!;
  const echoed = Bun.spawnSync(["bash", "-c", `${quoted}\nprintf %s "$__cmdaudit_log"`]).stdout.toString();
  expect(echoed).toBe(PATHS[1]!);
}, 120_000);

test.skipIf(missing)("cmdaudit_hook_stamp_port sets the port line as withStampPort does (0: the log file only)", () => {
  const hook = readFileSync(HOOK_FILE, "utf8");
  for (const port of [0, 700]) {
    const r = renderWithRole({ cmdaudit_hook_stamp_port: port });
    expect(r.code).toBe(0);
    expect(readFileSync(join(r.run, "out-0.sh"), "utf8")).toBe(withStampPort(withLogPath(hook, PATHS[0]!), port));
  }
}, 120_000);

test.skipIf(missing)("a hook source without its log line, or with two, stops the role before anything is installed", () => {
  const hook = readFileSync(HOOK_FILE, "utf8");
  const line = hook.split("\n").find((l) => l.startsWith("__cmdaudit_log="))!;
  for (const [name, text] of [["none", hook.replace(line, "__cmdaudit_log=/var/log/x.log")], ["two", hook.replace(line, `${line}\n${line}`)]] as const) {
    const src = join(dir, `hook-${name}.sh`);
    writeFileSync(src, text);
    const r = renderWithRole({ cmdaudit_hook_src: src });
    expect(r.out).toContain("must have exactly one `__cmdaudit_log=... # cmdaudit:log` line");
    expect(r.code).not.toBe(0);
    expect(readdirSync(r.run).sort()).toEqual(["agent", "ansible"]);
  }
}, 120_000);

test.skipIf(missing)("a relative log path or one with a backslash stops the role, as withLogPath refuses it", () => {
  for (const path of ["var/log/commands.log", "/srv/a\\b.log"]) {
    expect(() => withLogPath(readFileSync(HOOK_FILE, "utf8"), path)).toThrow();
    const r = renderWithRole({ cmdaudit_hook_log_path: path });
    expect(r.out).toContain("must be an absolute path on one line, without a backslash");
    expect(r.code).not.toBe(0);
    expect(readdirSync(r.run).sort()).toEqual(["agent", "ansible"]);
  }
}, 120_000);
