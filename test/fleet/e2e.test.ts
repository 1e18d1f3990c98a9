/**
 * From a keystroke to a MySQL row, on real hosts: `ansible-playbook site.yml` rolls cmdaudit out to
 * a fleet made on this machine (Debian roots in their own network namespaces, real sshd), a user
 * logs in over SSH on a pty, types, `sudo -i`, types more, logs out; the reporter runs the way cron
 * runs it; the server (installed by the role on web1, writing to this machine's MariaDB) answers
 * the query API with exactly what was typed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { parse as parseYaml, stringify } from "yaml";
import { buildReporter } from "../../agent/build.ts";
import { buildServer } from "../../server/build.ts";
import { hostToken } from "../../server/src/host-token.ts";
import { READ_TOKEN } from "../support/config.ts";
import { createTestDatabase } from "../support/mysql.ts";
import { commandBytes, exportRows } from "../support/query.ts";
import { createFleet, type Fleet, type FleetHost, fleetUnavailable } from "./hosts.ts";

const ANSIBLE_DIR = join(import.meta.dir, "../../ansible");
const unavailable = fleetUnavailable() ?? (Bun.which("ansible-playbook") ? undefined : "ansible-playbook is not installed");
if (unavailable && process.env.CI === "true") throw new Error(`the fleet end-to-end test cannot run: ${unavailable}`);
const maybe = unavailable ? describe.skip : describe;

let fleet: Fleet;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let forwarder: TCPSocketListener<{ peer?: Socket<unknown>; pending: Uint8Array[] }> | undefined;
let inventory: string;
let extraVarsFile: string;
let serverUrl: string;
const timings: Record<string, number> = {};
/** The server's per-host token key: each host's reporter gets its own token, computed by the role. */
const HOST_KEY = "fleet-e2e-host-key-0123456789abcdefghijkl";
const REDACT_KEY = "fleet-e2e-redact-key-0123456789abcdefghij";

/** MariaDB listens on 127.0.0.1 only: a TCP relay on the fleet bridge lets web1's server reach it. */
function relayMysql(host: string): TCPSocketListener<{ peer?: Socket<unknown>; pending: Uint8Array[] }> {
  return Bun.listen<{ peer?: Socket<unknown>; pending: Uint8Array[] }>({
    hostname: host, port: 0,
    socket: {
      open(client) {
        client.data = { pending: [] };
        Bun.connect<undefined>({
          hostname: "127.0.0.1", port: 3306,
          socket: {
            open(up) {
              client.data.peer = up as Socket<unknown>;
              for (const p of client.data.pending) up.write(p);
              client.data.pending = [];
            },
            data(_up, chunk) { client.write(chunk); },
            close() { client.end(); },
            error() { client.end(); },
          },
        }).catch(() => client.end());
      },
      data(client, chunk) {
        if (client.data.peer) client.data.peer.write(chunk);
        else client.data.pending.push(new Uint8Array(chunk));
      },
      close(client) { client.data.peer?.end(); },
      error(client) { client.data.peer?.end(); },
    },
  });
}

async function playbook(args: string[] = []): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(["ansible-playbook", "-i", inventory, "-e", `@${extraVarsFile}`, ...args, "site.yml"], {
    cwd: ANSIBLE_DIR, stdout: "pipe", stderr: "pipe",
    env: { ...process.env, ...fleet.ansibleEnv(), ANSIBLE_CONFIG: join(ANSIBLE_DIR, "ansible.cfg"), ANSIBLE_NOCOLOR: "1", ANSIBLE_FORCE_COLOR: "0",
      ANSIBLE_CALLBACKS_ENABLED: "ansible.posix.profile_tasks" },
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out: out + err };
}

/** PLAY RECAP counts per host. */
function recap(out: string): Record<string, Record<string, number>> {
  const res: Record<string, Record<string, number>> = {};
  const at = out.lastIndexOf("PLAY RECAP");
  for (const line of out.slice(at).split("\n").slice(1)) {
    const m = /^(\S+)\s+:\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    res[m[1]!] = Object.fromEntries([...m[2]!.matchAll(/(\w+)=(\d+)/g)].map((x) => [x[1]!, Number(x[2])]));
  }
  return res;
}

/** "TASK name → host" for every task that reported a change. */
function changedTasks(out: string): string[] {
  const res: string[] = [];
  let task = "";
  for (const line of out.split("\n")) {
    const t = /^TASK \[(.*)\]/.exec(line) ?? /^RUNNING HANDLER \[(.*)\]/.exec(line);
    if (t) task = t[1]!;
    const c = /^changed: \[([^\]]+)\]/.exec(line);
    if (c) res.push(`${task} → ${c[1]}`);
  }
  return res;
}

/** Log in over SSH on a pty and type; chunks go 0.6 s apart (a prompt in between). */
/** Type `chunks` into a login over SSH; a function among them is awaited there, between two chunks. */
async function typeOverSsh(host: FleetHost, chunks: (string | Uint8Array | (() => Promise<void>))[]): Promise<string> {
  const ssh = fleet.sshArgv(host, fleet.user, { tty: true }).map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const proc = Bun.spawn(["script", "-qec", ssh, "/dev/null"], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "dumb", LANG: "C.UTF-8" } });
  const out = new Response(proc.stdout).text();
  await Bun.sleep(1500); // the login: motd, profile, the hook's session_start
  for (const c of chunks) {
    if (typeof c === "function") {
      await c();
      continue;
    }
    proc.stdin.write(typeof c === "string" ? Buffer.from(c) : c);
    await proc.stdin.flush();
    await Bun.sleep(600);
  }
  proc.stdin.end();
  const killer = setTimeout(() => proc.kill(), 30_000);
  await proc.exited;
  clearTimeout(killer);
  return out;
}

/** The reporter run exactly as its cron line runs it (minus cron itself). */
async function runCronLine(host: FleetHost): Promise<void> {
  const cron = readFileSync(join(host.root, "etc/cron.d/cmdaudit-reporter"), "utf8");
  const line = cron.split("\n").find((l) => l.startsWith("* * * * * root "));
  expect(line).toBeDefined();
  const r = await fleet.exec(host, `PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; ${line!.slice("* * * * * root ".length)}`, { timeoutMs: 90_000 });
  expect(r.code).toBe(0);
}

interface Row {
  kind: string; hostname: string; serverIps: string; luser: string; suser: string; terminal: string; clientIp: string;
  sessionId: string; seq: number; cwd: string | null; exitStatus: number | null; command: string; commandB64?: string;
  attestation: string; attestedUser: string | null; attestedLoginUser: string | null; flags: string[];
}

/** A host's rows in session and seq order. */
async function rowsOf(host: string): Promise<Row[]> {
  const rows = await exportRows<Row>(serverUrl, { host }, READ_TOKEN);
  return rows.sort((a, b) => a.sessionId.localeCompare(b.sessionId) || a.seq - b.seq);
}

maybe("fleet: ansible-playbook site.yml, then a keystroke to a MySQL row", () => {
  beforeAll(async () => {
    let t = performance.now();
    const dist = mkdtempSync(join(tmpdir(), "cmdaudit-dist-"));
    const [reporter, server] = await Promise.all([buildReporter(join(dist, "cmdaudit-reporter")), buildServer(join(dist, "cmdaudit-server"))]);
    db = await createTestDatabase("e2e");
    timings.build = performance.now() - t;
    t = performance.now();
    fleet = await createFleet([{ name: "web1", kind: "modern" }, { name: "web2", kind: "modern" }, { name: "legacy1", kind: "legacy" }]);
    timings.fleet = performance.now() - t;
    forwarder = relayMysql(fleet.controllerIp);
    const dbUrl = new URL(db.url);
    dbUrl.hostname = fleet.controllerIp;
    dbUrl.port = String(forwarder.port);
    serverUrl = `http://${fleet.host("web1").ip}:8080`;
    // The fleet's inventory, with the groups site.yml uses.
    const inv = parseYaml(readFileSync(fleet.inventory(), "utf8")) as { all: { children?: Record<string, unknown> } };
    inv.all.children = {
      ...inv.all.children,
      cmdaudit_servers: { hosts: { web1: null } },
      // The compiled reporter's hosts (web1, web2) run the stamping daemon, the roles' default
      // (docs/transport.md); legacy1 has the sh reporter, no daemon: its shells write to the log file.
      cmdaudit_audited: { hosts: { web1: null, web2: null, legacy1: null } },
    };
    inventory = join(fleet.dir, "site-inventory.yml");
    writeFileSync(inventory, stringify(inv));
    extraVarsFile = join(fleet.dir, "extra-vars.yml");
    writeFileSync(extraVarsFile, stringify({
      vault_cmdaudit_host_key: HOST_KEY,
      vault_cmdaudit_redact_key: REDACT_KEY,
      vault_cmdaudit_read_token: READ_TOKEN,
      cmdaudit_server_binary_src: server,
      cmdaudit_server_database_url: dbUrl.toString(),
      cmdaudit_reporter_binary_src: reporter,
      cmdaudit_reporter_server_url: serverUrl,
      cmdaudit_reporter_cron_splay_seconds: 2,
    }), { mode: 0o600 });
  }, 600_000);

  afterAll(async () => {
    forwarder?.stop(true);
    await fleet?.destroy();
    await db?.drop();
    console.log(`fleet e2e timings (s): ${Object.entries(timings).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`).join(", ")}`);
  }, 120_000);

  test("--check --diff on fresh hosts passes; the first run changes every host; the second changes nothing; --check --diff then reports nothing to change", async () => {
    // Check mode on hosts that have nothing yet: it must get through every task.
    const dry = await playbook(["--check", "--diff"]);
    if (dry.code !== 0) console.log(dry.out.slice(-6000));
    expect(dry.code).toBe(0);
    let t = performance.now();
    const first = await playbook();
    timings.playbook1 = performance.now() - t;
    console.log(first.out.slice(first.out.lastIndexOf("PLAY RECAP")));
    expect(first.code).toBe(0);
    const r1 = recap(first.out);
    for (const h of ["web1", "web2", "legacy1"]) expect(r1[h]?.changed).toBeGreaterThan(0);
    for (const secret of [HOST_KEY, READ_TOKEN, ...["web1", "web2", "legacy1"].map((h) => hostToken(HOST_KEY, h))]) expect(first.out).not.toContain(secret);

    t = performance.now();
    const second = await playbook();
    timings.playbook2 = performance.now() - t;
    if (second.code !== 0) console.log(second.out.slice(-6000));
    expect(second.code).toBe(0);
    expect(changedTasks(second.out)).toEqual([]);
    const r2 = recap(second.out);
    for (const h of ["web1", "web2", "legacy1"]) {
      expect({ host: h, changed: r2[h]?.changed, failed: r2[h]?.failed }).toEqual({ host: h, changed: 0, failed: 0 });
    }

    const check = await playbook(["--check", "--diff"]);
    if (check.code !== 0) console.log(check.out.slice(-6000));
    expect(check.code).toBe(0);
    expect(changedTasks(check.out)).toEqual([]);
    for (const h of ["web1", "web2", "legacy1"]) expect(recap(check.out)[h]?.changed).toBe(0);

    // What the roles put in place.
    const web2 = fleet.host("web2");
    const legacy = fleet.host("legacy1");
    const attrs = await fleet.exec(web2, "stat -c '%a %U' /var/log/cmdaudit/commands.log; lsattr -d /var/log/cmdaudit/commands.log | cut -c1-22; stat -c %a /etc/cmdaudit/reporter.yml");
    expect(attrs.stdout).toMatch(/^622 root\n\S*a\S* ?\n600\n$/);
    expect((await fleet.exec(legacy, "head -1 /usr/local/sbin/cmdaudit-reporter; stat -c %a /etc/cmdaudit/reporter.conf /etc/cmdaudit/reporter.token")).stdout).toBe("#!/bin/sh\n600\n600\n");
    // Each host holds its own token (bound to the name its hook records), never the key.
    expect((await fleet.exec(legacy, "cat /etc/cmdaudit/reporter.token")).stdout.trim()).toBe(hostToken(HOST_KEY, "legacy1"));
    expect((await fleet.exec(web2, "cat /etc/cmdaudit/reporter.yml")).stdout).toContain(JSON.stringify(hostToken(HOST_KEY, "web2")));
    for (const h of ["web2", "legacy1"]) expect((await fleet.exec(h, "grep -rl -- '" + HOST_KEY + "' /etc /usr/local /var/lib/cmdaudit; true")).stdout).toBe("");
    expect((await fetch(`${serverUrl}/readyz`)).status).toBe(200);
  }, 900_000);

  const typed = (host: string) => [
    "set +o emacs\n", // no line editing: bytes go in as typed (a TAB stays a TAB, 0xff stays 0xff)
    `echo "hello from ${host}"\n`,
    "for i in 1 2; do\n  echo \"$i\"\ndone\n",
    " echo 'typed with a leading space'\n",
    "echo 'a] [b' \"] [(root) mallory pts/9 6.6.6.6] [evil@1.1.1.1]\"\n",
    Buffer.concat([Buffer.from("echo raw-"), Buffer.from([0xff, 0xfe]), Buffer.from("-bytes\n")]),
    "bash\n", // a non-login shell: Debian reads /etc/bash.bashrc, not /etc/profile.d
    "echo in a child shell\n",
    "exit\n",
    "sudo -i\n",
    "cd /tmp\n",
    "false\n",
    "whoami\n",
    "exit\n",
    "exit\n",
  ];
  const expectedAlice = (host: string) => [
    "set +o emacs", `echo "hello from ${host}"`, "for i in 1 2; do\n  echo \"$i\"\ndone", " echo 'typed with a leading space'",
    "echo 'a] [b' \"] [(root) mallory pts/9 6.6.6.6] [evil@1.1.1.1]\"",
  ];

  test.each(["web2", "legacy1"])("%s: an SSH session with a child shell and sudo -i arrives exactly, in order, with who, where and how", async (name) => {
    const host = fleet.host(name);
    const t = performance.now();
    const screen = await typeOverSsh(host, typed(name));
    expect(screen).toContain(`hello from ${name}`);
    // web2's shells write to its stamping daemon, legacy1's to the log file.
    const log = await fleet.exec(host, "wc -c < /var/log/cmdaudit/commands.log");
    if (name === "web2") expect(Number(log.stdout.trim())).toBe(0);
    else expect(Number(log.stdout.trim())).toBeGreaterThan(0);
    await runCronLine(host);
    // The cron line pipes into logger: the reporter's own account says whether it caught up.
    const conf = name === "legacy1" ? "/etc/cmdaudit/reporter.conf" : "/etc/cmdaudit/reporter.yml";
    const status = await fleet.exec(host, `/usr/local/sbin/cmdaudit-reporter -c ${conf} status`);
    expect(status.stdout).toMatch(/^backlog(_bytes)?:\s+0\b/m);
    timings[`session+report ${name}`] = performance.now() - t;

    const rows = await rowsOf(name);
    const sessions = [...new Set(rows.map((r) => r.sessionId))];
    expect(sessions.length).toBe(3); // alice's login shell, her child shell, and root's after sudo -i
    const login = rows.find((r) => r.command === "set +o emacs")!.sessionId;
    const alice = rows.filter((r) => r.sessionId === login);
    const child = rows.filter((r) => r.suser === "alice" && r.sessionId !== login);
    const root = rows.filter((r) => r.suser === "root");
    for (const r of rows) {
      expect(r.hostname).toBe(name);
      expect(r.luser).toBe("alice"); // the login user, also after sudo -i
      expect(r.clientIp).toBe(fleet.controllerIp);
      expect(r.serverIps.split(",")).toContain(host.ip);
      expect(r.terminal).toMatch(/^pts\/\d+$/);
    }
    expect(alice.map((r) => r.kind)).toEqual(["session_start", ...Array(9).fill("command"), "session_end"]);
    const aliceCommands = alice.filter((r) => r.kind === "command");
    expect(aliceCommands.slice(0, 5).map((r) => r.command)).toEqual(expectedAlice(name));
    expect(commandBytes(aliceCommands[5]!)).toEqual(Buffer.concat([Buffer.from("echo raw-"), Buffer.from([0xff, 0xfe]), Buffer.from("-bytes")]));
    expect(aliceCommands.slice(6).map((r) => r.command)).toEqual(["bash", "sudo -i", "exit"]);
    expect(aliceCommands.every((r) => r.cwd === "/home/alice" && r.exitStatus === 0)).toBe(true);
    expect(child.map((r) => [r.kind, r.command, r.cwd])).toEqual([
      ["session_start", "", "/home/alice"], ["command", "echo in a child shell", "/home/alice"], ["command", "exit", "/home/alice"], ["session_end", "", "/home/alice"],
    ]);

    expect(root.map((r) => r.kind)).toEqual(["session_start", "command", "command", "command", "command", "session_end"]);
    const rootCommands = root.filter((r) => r.kind === "command");
    expect(rootCommands.map((r) => [r.command, r.cwd, r.exitStatus])).toEqual([
      ["cd /tmp", "/tmp", 0], ["false", "/tmp", 1], ["whoami", "/tmp", 0], ["exit", "/tmp", 0],
    ]);
    expect(rows.filter((r) => r.kind === "loss")).toEqual([]);
    // Who wrote each record, as the kernel told web2's daemon: alice (her login uid too), and root
    // after sudo -i, still with alice's login uid; legacy1's records are vouched for by no one.
    for (const r of rows) {
      if (name === "web2") expect([r.attestation, r.attestedUser, r.attestedLoginUser]).toEqual(["kernel", r.suser, "alice"]);
      else expect([r.attestation, r.attestedUser, r.attestedLoginUser]).toEqual(["none", null, null]);
      expect(r.flags).toEqual([]);
    }
  }, 300_000);

  test("web2 moved from the daemon to the log file and back with a session open: every record arrives once, attested while the daemon ran", async () => {
    const web2 = fleet.host("web2");
    const toggle = (on: boolean) => async () => {
      const r = await playbook(["--limit", "web2", "-e", `cmdaudit_reporter_stamp=${on}`]);
      if (r.code !== 0) console.log(r.out.slice(-4000));
      expect(r.code).toBe(0);
      const listening = await fleet.exec(web2, "bash -c 'exec 3<>/dev/tcp/127.0.0.1/979' 2>/dev/null && echo yes || echo no");
      expect(listening.stdout.trim()).toBe(on ? "yes" : "no");
    };
    await typeOverSsh(web2, ["set +o emacs\n", "echo move-1-daemon\n", toggle(false), "echo move-2-file\n", "echo move-3-file\n", toggle(true), "echo move-4-daemon\n", "exit\n"]);
    await runCronLine(web2);
    const login = (await rowsOf("web2")).find((r) => r.command === "echo move-1-daemon")!.sessionId;
    const rows = (await rowsOf("web2")).filter((r) => r.sessionId === login);
    expect(rows.map((r) => [r.seq, r.kind, r.command, r.attestation])).toEqual([
      [1, "session_start", "", "kernel"], [2, "command", "set +o emacs", "kernel"], [3, "command", "echo move-1-daemon", "kernel"],
      [4, "command", "echo move-2-file", "none"], [5, "command", "echo move-3-file", "none"],
      [6, "command", "echo move-4-daemon", "kernel"], [7, "command", "exit", "kernel"], [8, "session_end", "", "kernel"],
    ]);
    expect((await rowsOf("web2")).filter((r) => r.kind === "loss")).toEqual([]);
  }, 600_000);

  test("web2's stamping daemon: a record alice writes through it is stored attested with her name; one she writes as root is stored flagged forged", async () => {
    const web2 = fleet.host("web2");
    const { encodeRecord } = await import("../../protocol/index.ts");
    const line = (seq: number, suser: string, command: string) => Buffer.from(encodeRecord({
      kind: "command", ctime: new Date().toISOString(), hostname: "web2", serverIps: web2.ip, suser, luser: suser, terminal: "pts/9",
      clientIp: "", sessionId: "stampd-e2e", seq, cwd: "/home/alice", exitStatus: 0, command,
    })).toString("base64");
    // As alice, through bash's own /dev/tcp: read the connection's key, write two keyed lines.
    const script = 'exec 3<>/dev/tcp/127.0.0.1/979 && read -r -t 5 -u 3 K && for l in "$@"; do printf "\\n%s\\t%s\\n" "$K" "$(printf %s "$l" | base64 -d | tr -d "\\n")" >&3; done; sleep 1';
    const r = await fleet.exec(web2, `runuser -u alice -- bash -c '${script}' x ${line(1, "alice", "id -un")} ${line(2, "root", "cat /etc/shadow")}`);
    expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: "" });
    await runCronLine(web2);
    const rows = (await exportRows<Row & { attestation: string; attestedUser: string | null; flags: string[] }>(serverUrl, { host: "web2", session: "stampd-e2e" }, READ_TOKEN))
      .sort((a, b) => a.seq - b.seq);
    expect(rows.map((x) => [x.command, x.attestation, x.attestedUser, x.flags.includes("forged")])).toEqual([
      ["id -un", "kernel", "alice", false], ["cat /etc/shadow", "kernel", "alice", true],
    ]);
    expect((await fleet.exec(web2, "ls /var/lib/cmdaudit/spool | wc -l")).stdout.trim()).toBe("0"); // shipped and deleted
  }, 120_000);

  test("a password typed over SSH is stored redacted: on web2 (compiled reporter, with the role's key) and on legacy1 (sh reporter: the server redacts)", async () => {
    const password = "Fl33tE2ePassw0rd-x9";
    const { createRedactor } = await import("../../protocol/redact/index.ts");
    const want = createRedactor({ key: REDACT_KEY }).redact(`mysql -uroot -p${password} -e 'select 1'`);
    for (const name of ["web2", "legacy1"]) {
      const host = fleet.host(name);
      await typeOverSsh(host, ["set +o emacs\n", `mysql -uroot -p${password} -e 'select 1'\n`, "exit\n"]);
      await runCronLine(host);
      const rows = (await exportRows<Row & { redactions: { rule: string; start: number; end: number }[] }>(serverUrl, { host: name }, READ_TOKEN))
        .filter((r) => r.command.startsWith("mysql -uroot"));
      expect(rows.map((r) => [r.command, r.redactions])).toEqual([[want.text, want.redactions]]);
    }
    // The key on the compiled reporter's host only, root's alone; the sh reporter's host has none.
    expect((await fleet.exec(fleet.host("web2"), "stat -c '%a %U' /etc/cmdaudit/redact.key")).stdout.trim()).toBe("600 root");
    expect((await fleet.exec(fleet.host("legacy1"), "test -e /etc/cmdaudit/redact.key; echo $?")).stdout.trim()).toBe("1");
  }, 240_000);

  test("rollback: state absent removes the hook (and its bash.bashrc line), the reporter and its cron entry on every audited host, keeps the log; a second run changes nothing", async () => {
    const absent = ["-e", "cmdaudit_hook_state=absent", "-e", "cmdaudit_reporter_state=absent"];
    const t = performance.now();
    const first = await playbook(absent);
    timings.rollback = performance.now() - t;
    if (first.code !== 0) console.log(first.out.slice(-6000));
    expect(first.code).toBe(0);
    for (const h of ["web1", "web2", "legacy1"]) {
      const r = await fleet.exec(h, "for f in /etc/profile.d/00-cmdaudit.sh /etc/cron.d/cmdaudit-reporter /usr/local/sbin/cmdaudit-reporter /etc/cmdaudit/reporter.yml /etc/cmdaudit/reporter.conf /etc/cmdaudit/reporter.token /etc/cron.d/cmdaudit-stampd /usr/local/sbin/cmdaudit-stampd-start; do [ -e $f ] && echo left $f; done; grep -l cmdaudit /etc/bash.bashrc; [ -f /var/log/cmdaudit/commands.log ] && echo log kept");
      expect({ host: h, out: r.stdout }).toEqual({ host: h, out: "log kept\n" });
      // The stamping daemon is stopped too: nothing listens on its port.
      expect({ host: h, listening: (await fleet.exec(h, "bash -c 'exec 3<>/dev/tcp/127.0.0.1/979' 2>/dev/null && echo yes || echo no")).stdout.trim() }).toEqual({ host: h, listening: "no" });
    }
    const again = await playbook(absent);
    expect(again.code).toBe(0);
    expect(changedTasks(again.out)).toEqual([]);
    expect((await fetch(`${serverUrl}/readyz`)).status).toBe(200); // the server is not part of it
  }, 600_000);
});
