// A fleet of real Debian hosts on this machine, for roll-out tests (issue: rollout).
//
// Each host is a Debian rootfs (test/fleet/rootfs.ts: one cached mmdebstrap build per
// kind, shared read-only as the lower layer of a per-host overlay), running in its own
// network, UTS, mount and PID namespaces, chrooted into that overlay, with a real sshd
// as the only service. The controller (this machine's root namespace) reaches every
// host over a bridge it owns: 10.213.<slot>.1/24 is the controller, hosts are .11, .12, …
// There is no default route in the hosts: they reach only the bridge's subnet.
//
//   const fleet = await createFleet([{ name: "web1", kind: "modern" }, { name: "legacy1", kind: "legacy" }]);
//   try { await fleet.ssh("web1", "alice", "id -u"); } finally { await fleet.destroy(); }
//
// Needs root, iproute2, util-linux (unshare, nsenter, flock, mount), openssh-client,
// mmdebstrap (first build only, with Debian's mirror). `destroy()` kills every process
// of the hosts (their PID namespaces die with them), unmounts, deletes the namespaces,
// veths and bridge and removes the hosts' directories; an exit handler does the same for
// fleets still alive when the process exits, and `createFleet` first removes what a
// crashed earlier run left behind (slots whose owning process is gone).
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { stringify } from "yaml";
import { ALICE_UID, ensureBaseRootfs, type HostKind } from "./rootfs.ts";
import { must, run, type RunResult, runSync } from "./run.ts";

export type { HostKind } from "./rootfs.ts";
export { ALICE_UID, baseRootfsReady, CACHE_DIR, ensureBaseRootfs, packagesFor, pythonBinaries } from "./rootfs.ts";
export type { RunResult } from "./run.ts";

export interface FleetHostSpec {
  /** Hostname (also the inventory name): lower-case letters, digits, dashes. */
  name: string;
  kind: HostKind;
}

export interface FleetHost {
  name: string;
  /** IPv4 address on the fleet bridge (the host's only non-loopback address; no IPv6 on eth0). */
  ip: string;
  /** The host's root filesystem as the controller sees it (the merged overlay). */
  root: string;
  kind: HostKind;
  sshPort: 22;
  /** `ip netns` name of the host's network namespace. */
  netns: string;
}

export interface SshOpts {
  timeoutMs?: number;
  stdin?: string | Uint8Array;
  /** Force a remote pty (`ssh -tt`). */
  tty?: boolean;
}

export type HostRef = FleetHost | string;

export interface Fleet {
  hosts: FleetHost[];
  /** The controller's address on the bridge: the client IP hosts see for the controller's SSH sessions. */
  controllerIp: string;
  /** e.g. 10.213.0.0/24 */
  subnet: string;
  /** The fleet's own directory (keys, inventory, host dirs); removed by destroy(). */
  dir: string;
  /** Private key (ed25519) accepted for root and alice on every host. */
  sshKey: string;
  /** known_hosts with every host's key under its name and its IP. */
  knownHosts: string;
  /** The ordinary user on every host (uid ALICE_UID, bash, passwordless `sudo`). */
  user: "alice";
  host(name: string): FleetHost;
  /** argv for `ssh` to a host as a user, command not included (append `--` and the command). */
  sshArgv(host: HostRef, user: string, opts?: { tty?: boolean }): string[];
  /** Run a command over SSH (a real login through sshd and PAM). */
  ssh(host: HostRef, user: string, cmd: string, opts?: SshOpts): Promise<RunResult>;
  /** Run a command as root inside the host's namespaces and chroot, without SSH (no login, no pty). */
  exec(host: HostRef, cmd: string, opts?: { timeoutMs?: number; stdin?: string | Uint8Array }): Promise<RunResult>;
  /**
   * Write a YAML inventory (groups `modern` and `legacy`, `ansible_host` per host, the key,
   * known_hosts and strict host key checking in `all.vars`, plus `extraVars`); returns its path.
   */
  inventory(extraVars?: Record<string, unknown>, opts?: { path?: string; hostVars?: Record<string, Record<string, unknown>> }): string;
  /** Environment for ansible/ansible-playbook: control sockets and temp files inside `dir` (cleaned by destroy). */
  ansibleEnv(): Record<string, string>;
  destroy(): Promise<void>;
}

/** Where fleets live: one directory per slot; a slot is one fleet (its own bridge and /24). */
export const FLEET_DIR = process.env.CMDAUDIT_FLEET_DIR ?? "/var/tmp/cmdaudit-fleet";
export const MAX_SLOTS = 16;
const NS_PREFIX = "cmdaudit-s";
const BRIDGE_PREFIX = "cafbr";
const VETH_PREFIX = "caf";

const slotDir = (k: number) => join(FLEET_DIR, `s${k}`);
const bridgeName = (k: number) => `${BRIDGE_PREFIX}${k}`;
const netnsName = (k: number, host: string) => `${NS_PREFIX}${k}-${host}`;
const vethName = (k: number, i: number) => `${VETH_PREFIX}${k}v${i}`;
const subnetBase = (k: number) => `10.213.${k}`;

// ---------------------------------------------------------------------------------------------
// Prerequisites

const TOOLS = ["ip", "unshare", "nsenter", "mount", "umount", "chroot", "flock", "ssh", "ssh-keygen", "tar"];

/** Why this machine cannot run a fleet, or undefined when it can (tests: skip locally, fail in CI). */
export function fleetUnavailable(): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  if (typeof process.getuid === "function" && process.getuid() !== 0) return "needs root";
  const missing = TOOLS.filter((t) => !Bun.which(t, { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }));
  if (missing.length) return `missing commands: ${missing.join(" ")} (apt-get install iproute2 util-linux openssh-client mmdebstrap)`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Slots, ownership, cleanup (all synchronous so the exit handler can use it)

interface Owner {
  pid: number;
  start: string;
}

function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

const liveSlots = new Set<number>();

function ownerAlive(k: number): boolean {
  const dir = slotDir(k);
  let owner: Owner;
  try {
    owner = JSON.parse(readFileSync(join(dir, "owner.json"), "utf8")) as Owner;
  } catch {
    // Being created right now by someone (owner.json follows mkdir at once), or a crash in between.
    try {
      return Date.now() - statSync(dir).mtimeMs < 30_000;
    } catch {
      return false;
    }
  }
  if (owner.pid === process.pid) return liveSlots.has(k);
  return procStart(owner.pid) === owner.start;
}

function listNetns(): string[] {
  const r = runSync(["ip", "netns", "list"]);
  return r.stdout.split("\n").map((l) => l.split(" ")[0] ?? "").filter(Boolean);
}

function listLinks(): string[] {
  const r = runSync(["ip", "-o", "link", "show"]);
  return r.stdout.split("\n").map((l) => /^\d+: ([^:@ ]+)/.exec(l)?.[1] ?? "").filter(Boolean);
}

function unescapeMount(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const mp = line.split(" ")[4];
    if (mp === undefined) continue;
    const p = unescapeMount(mp);
    if (p === dir || p.startsWith(`${dir}/`)) out.push(p);
  }
  return out;
}

/** PIDs of processes (other than us) whose command line mentions `needle` (ssh control masters, clients). */
function pidsMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, "latin1").includes(needle)) out.push(pid);
    } catch {
      // gone
    }
  }
  return out;
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** Remove everything of slot k: processes, mounts, namespaces, links, files. Idempotent. */
function cleanupSlot(k: number): void {
  const dir = slotDir(k);
  const namespaces = listNetns().filter((n) => n.startsWith(`${NS_PREFIX}${k}-`));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pids = [
      ...namespaces.flatMap((ns) => runSync(["ip", "netns", "pids", ns]).stdout.split("\n").filter(Boolean).map(Number)),
      ...pidsMentioning(`${dir}/`),
    ].filter((p) => p > 0 && p !== process.pid);
    if (pids.length === 0) break;
    if (Date.now() > deadline) throw new Error(`fleet slot ${k}: processes survive SIGKILL: ${pids.join(" ")}`);
    killAll(pids);
    Bun.sleepSync(50);
  }
  for (const m of mountsUnder(dir).reverse()) runSync(["umount", "-l", m]);
  for (const ns of namespaces) runSync(["ip", "netns", "delete", ns]);
  const links = listLinks();
  for (const l of links) if (l === bridgeName(k) || l.startsWith(`${VETH_PREFIX}${k}v`)) runSync(["ip", "link", "delete", l]);
  const left = mountsUnder(dir);
  if (left.length) throw new Error(`fleet slot ${k}: still mounted: ${left.join(" ")}`);
  rmSync(dir, { recursive: true, force: true });
}

/** Slots with traces on this machine (directories, namespaces, bridges, veths). */
function slotsInUse(): Set<number> {
  const ks = new Set<number>();
  try {
    for (const e of readdirSync(FLEET_DIR)) {
      const m = /^s(\d+)$/.exec(e);
      if (m) ks.add(Number(m[1]));
    }
  } catch {
    // no FLEET_DIR yet
  }
  for (const ns of listNetns()) {
    const m = new RegExp(`^${NS_PREFIX}(\\d+)-`).exec(ns);
    if (m) ks.add(Number(m[1]));
  }
  for (const l of listLinks()) {
    const m = new RegExp(`^(?:${BRIDGE_PREFIX}(\\d+)|${VETH_PREFIX}(\\d+)v\\d+)$`).exec(l);
    if (m) ks.add(Number(m[1] ?? m[2]));
  }
  return ks;
}

/** Remove what fleets of dead processes left behind. */
export function cleanupLeftovers(): number[] {
  const cleaned: number[] = [];
  for (const k of slotsInUse()) {
    if (ownerAlive(k)) continue;
    cleanupSlot(k);
    cleaned.push(k);
  }
  return cleaned;
}

function acquireSlot(): number {
  mkdirSync(FLEET_DIR, { recursive: true, mode: 0o755 });
  const used = slotsInUse();
  for (let k = 0; k < MAX_SLOTS; k++) {
    if (used.has(k)) continue;
    try {
      mkdirSync(slotDir(k), { mode: 0o700 });
    } catch {
      continue; // taken by a racing process
    }
    const owner: Owner = { pid: process.pid, start: procStart(process.pid) ?? "" };
    writeFileSync(join(slotDir(k), "owner.json"), JSON.stringify(owner));
    liveSlots.add(k);
    return k;
  }
  throw new Error(`no free fleet slot (all ${MAX_SLOTS} in use by live processes)`);
}

let handlersInstalled = false;
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const cleanAll = () => {
    for (const k of [...liveSlots]) {
      try {
        cleanupSlot(k);
      } catch (e) {
        console.error(`fleet: cleanup of slot ${k} failed: ${String(e)}`);
      }
      liveSlots.delete(k);
    }
  };
  process.on("exit", cleanAll);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      cleanAll();
      process.exit(sig === "SIGINT" ? 130 : 143);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Per-host files

const SSHD_CONF = `# cmdaudit test fleet
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
UseDNS no
PrintMotd no
PrintLastLog no
`;

// PID 1 of a host, inside its chroot: sshd as a child, reaping orphans (bash reaps every child on SIGCHLD).
const INIT = `#!/bin/bash
# PID 1 of a cmdaudit test fleet host.
chgrp utmp /run/utmp && chmod 0664 /run/utmp
install -d -m 0755 /run/sshd /run/lock
/usr/sbin/sshd -D -e 2>>/var/log/sshd.log &
trap 'kill -TERM -1 2>/dev/null; exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
`;

// Run by the controller's /bin/sh inside the host's fresh namespaces, before chroot.
const BOOT = `set -eu
R=$1
hostname "$2"
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
mount -t tmpfs -o nosuid,mode=0755,size=16m dev "$R/dev"
for spec in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  n=\${spec%%:*}; rest=\${spec#*:}
  mknod -m 0666 "$R/dev/$n" c "\${rest%%:*}" "\${rest#*:}"
done
mkdir -m 0755 "$R/dev/pts"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mkdir -m 1777 "$R/dev/shm"
mount -t tmpfs -o nosuid,nodev,mode=1777 shm "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"; ln -s /proc/self/fd/1 "$R/dev/stdout"; ln -s /proc/self/fd/2 "$R/dev/stderr"
mount -t tmpfs -o nosuid,nodev,mode=0755,size=64m run "$R/run"
: > "$R/run/utmp"
exec chroot "$R" /sbin/cmdaudit-fleet-init
`;

function writeFile(path: string, data: string, mode: number, uid = 0, gid = 0): void {
  writeFileSync(path, data, { mode });
  chmodSync(path, mode);
  chownSync(path, uid, gid);
}

function mkdirOwned(path: string, mode: number, uid: number, gid: number): void {
  mkdirSync(path, { recursive: true, mode });
  chmodSync(path, mode);
  chownSync(path, uid, gid);
}

async function waitForPort(ip: string, port: number, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: ip, port, timeout: 1000 });
      s.once("connect", () => { s.destroy(); resolve(true); });
      s.once("error", () => { s.destroy(); resolve(false); });
      s.once("timeout", () => { s.destroy(); resolve(false); });
    });
    if (ok) return;
    if (!alive()) throw new Error(`host ${ip} died before sshd listened`);
    if (Date.now() > deadline) throw new Error(`sshd on ${ip}:${port} not listening after ${timeoutMs} ms`);
    await Bun.sleep(50);
  }
}

function childPid(pid: number): number | undefined {
  try {
    const c = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/)[0];
    return c ? Number(c) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Build (or take from the cache) the rootfs of every kind asked for and start one host per spec.
 * Hosts get 10.213.<slot>.11, .12, … in spec order.
 */
export async function createFleet(spec: FleetHostSpec[]): Promise<Fleet> {
  const why = fleetUnavailable();
  if (why) throw new Error(`cannot create a fleet: ${why}`);
  if (spec.length === 0 || spec.length > 200) throw new Error("a fleet has 1 to 200 hosts");
  const names = new Set<string>();
  for (const s of spec) {
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(s.name)) throw new Error(`bad host name ${JSON.stringify(s.name)}`);
    if (names.has(s.name)) throw new Error(`duplicate host name ${s.name}`);
    names.add(s.name);
    if (s.kind !== "modern" && s.kind !== "legacy") throw new Error(`bad kind for ${s.name}: ${String(s.kind)}`);
  }
  const bases = new Map<HostKind, string>();
  for (const kind of new Set(spec.map((s) => s.kind))) bases.set(kind, (await ensureBaseRootfs(kind)).dir);

  installExitHandlers();
  cleanupLeftovers();
  const k = acquireSlot();
  const dir = slotDir(k);
  const net = subnetBase(k);
  const controllerIp = `${net}.1`;
  const bridge = bridgeName(k);
  const procs = new Map<string, Bun.Subprocess>();
  const pid1 = new Map<string, number>();
  let destroyed = false;

  const hosts: FleetHost[] = spec.map((s, i) => ({
    name: s.name, kind: s.kind, ip: `${net}.${11 + i}`, root: join(dir, "hosts", s.name, "root"), sshPort: 22, netns: netnsName(k, s.name),
  }));
  const hostOf = (h: HostRef): FleetHost => {
    const name = typeof h === "string" ? h : h.name;
    const found = hosts.find((x) => x.name === name);
    if (!found) throw new Error(`no host ${name} in this fleet`);
    return found;
  };
  const keyDir = join(dir, "client");
  const sshKey = join(keyDir, "id_ed25519");
  const knownHosts = join(keyDir, "known_hosts");

  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    try {
      cleanupSlot(k);
    } finally {
      liveSlots.delete(k);
    }
    await Promise.all([...procs.values()].map((p) => p.exited));
  };

  try {
    mkdirSync(keyDir, { recursive: true, mode: 0o700 });
    await must(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cmdaudit-fleet-controller", "-f", sshKey]);
    const clientPub = readFileSync(`${sshKey}.pub`, "utf8");

    await must(["ip", "link", "add", bridge, "type", "bridge"]);
    await must(["ip", "addr", "add", `${controllerIp}/24`, "dev", bridge]);
    await run(["sysctl", "-qw", `net.ipv6.conf.${bridge}.disable_ipv6=1`]);
    await must(["ip", "link", "set", bridge, "up"]);

    const etcHosts = `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${controllerIp}\tcontroller\n${hosts.map((h) => `${h.ip}\t${h.name}`).join("\n")}\n`;
    const hostKeys = new Map<string, string>();

    // allSettled: when one host fails, the others finish their steps before destroy() runs.
    const started = await Promise.allSettled(hosts.map(async (h, i) => {
      const hdir = join(dir, "hosts", h.name);
      for (const d of ["upper", "work", "root"]) mkdirSync(join(hdir, d), { recursive: true, mode: 0o755 });
      chmodSync(join(hdir, "upper"), 0o755);
      await must(["mount", "-t", "overlay", "overlay", "-o", `lowerdir=${bases.get(h.kind)},upperdir=${hdir}/upper,workdir=${hdir}/work`, h.root]);
      const R = h.root;
      writeFile(join(R, "etc/hostname"), `${h.name}\n`, 0o644);
      writeFile(join(R, "etc/hosts"), etcHosts, 0o644);
      writeFile(join(R, "etc/resolv.conf"), "# cmdaudit test fleet: no DNS\n", 0o644);
      writeFile(join(R, "etc/machine-id"), `${randomBytes(16).toString("hex")}\n`, 0o444);
      const hk = join(R, "etc/ssh/ssh_host_ed25519_key");
      await must(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", `root@${h.name}`, "-f", hk]);
      hostKeys.set(h.name, readFileSync(`${hk}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" "));
      writeFile(join(R, "etc/ssh/sshd_config.d/cmdaudit-fleet.conf"), SSHD_CONF, 0o644);
      mkdirOwned(join(R, "root/.ssh"), 0o700, 0, 0);
      writeFile(join(R, "root/.ssh/authorized_keys"), clientPub, 0o600);
      mkdirOwned(join(R, "home/alice/.ssh"), 0o700, ALICE_UID, ALICE_UID);
      writeFile(join(R, "home/alice/.ssh/authorized_keys"), clientPub, 0o600, ALICE_UID, ALICE_UID);
      writeFile(join(R, "sbin/cmdaudit-fleet-init"), INIT, 0o755);
      writeFile(join(hdir, "boot.sh"), BOOT, 0o755);

      await must(["ip", "netns", "add", h.netns]);
      const veth = vethName(k, i);
      await must(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.netns]);
      await run(["sysctl", "-qw", `net.ipv6.conf.${veth}.disable_ipv6=1`]);
      await must(["ip", "link", "set", veth, "master", bridge, "up"]);
      const nsf = `/run/netns/${h.netns}`;
      await must(["nsenter", `--net=${nsf}`, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/eth0/disable_ipv6"]);
      await must(["ip", "-n", h.netns, "addr", "add", `${h.ip}/24`, "dev", "eth0"]);
      await must(["ip", "-n", h.netns, "link", "set", "lo", "up"]);
      await must(["ip", "-n", h.netns, "link", "set", "eth0", "up"]);

      const log = Bun.file(join(hdir, "console.log"));
      const proc = Bun.spawn(
        ["nsenter", `--net=${nsf}`, "--", "unshare", "--uts", "--mount", "--pid", "--ipc", "--fork", "--propagation", "private", "--", "/bin/sh", join(hdir, "boot.sh"), R, h.name],
        { stdin: "ignore", stdout: log, stderr: log, env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" } },
      );
      procs.set(h.name, proc);
      let exited = false;
      proc.exited.then(() => { exited = true; });
      try {
        await waitForPort(h.ip, 22, 20_000, () => !exited);
      } catch (e) {
        let out = "";
        try { out = readFileSync(join(hdir, "console.log"), "utf8"); } catch { /* none */ }
        throw new Error(`${h.name}: ${String(e)}\n${out}`);
      }
      const p1 = childPid(proc.pid);
      if (!p1) throw new Error(`${h.name}: cannot find the host's PID 1`);
      pid1.set(h.name, p1);
    }));
    const failed = started.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed.length) throw failed.length === 1 ? failed[0]!.reason : new AggregateError(failed.map((f) => f.reason), failed.map((f) => String(f.reason)).join("\n"));

    writeFile(knownHosts, hosts.map((h) => `${h.name},${h.ip} ${hostKeys.get(h.name)}\n`).join(""), 0o644);
  } catch (e) {
    await destroy().catch(() => {});
    throw e;
  }

  const sshArgv = (h: HostRef, user: string, opts: { tty?: boolean } = {}): string[] => {
    const host = hostOf(h);
    return [
      "ssh", "-F", "/dev/null", "-i", sshKey, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
      "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
      "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", "-p", String(host.sshPort), ...(opts.tty ? ["-tt"] : []), `${user}@${host.ip}`,
    ];
  };

  const fleet: Fleet = {
    hosts, controllerIp, subnet: `${net}.0/24`, dir, sshKey, knownHosts, user: "alice",
    host: (name) => hostOf(name),
    sshArgv,
    ssh(h, user, cmd, opts = {}) {
      if (destroyed) throw new Error("fleet destroyed");
      return run([...sshArgv(h, user, { tty: opts.tty }), "--", cmd], { timeoutMs: opts.timeoutMs ?? 60_000, stdin: opts.stdin });
    },
    exec(h, cmd, opts = {}) {
      if (destroyed) throw new Error("fleet destroyed");
      const host = hostOf(h);
      const p = pid1.get(host.name);
      if (!p) throw new Error(`${host.name} has no PID 1`);
      return run(["nsenter", "-t", String(p), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--", "/bin/bash", "-c", cmd], {
        timeoutMs: opts.timeoutMs ?? 60_000, stdin: opts.stdin, env: { HOME: "/root", TERM: "dumb" },
      });
    },
    inventory(extraVars = {}, opts = {}) {
      const path = opts.path ?? join(dir, "inventory.yml");
      const group = (kind: HostKind) => Object.fromEntries(hosts.filter((h) => h.kind === kind).map((h) => [h.name, {
        ansible_host: h.ip,
        ...(kind === "modern" ? { ansible_python_interpreter: "/usr/bin/python3" } : {}),
        ...opts.hostVars?.[h.name],
      }]));
      const inv = {
        all: {
          vars: {
            ansible_user: "root",
            ansible_port: 22,
            ansible_ssh_private_key_file: sshKey,
            ansible_ssh_common_args: `-F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile=${knownHosts} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes`,
            ...extraVars,
          },
          children: { modern: { hosts: group("modern") }, legacy: { hosts: group("legacy") } },
        },
      };
      writeFileSync(path, stringify(inv), { mode: 0o644 });
      return path;
    },
    ansibleEnv() {
      const cp = join(dir, "ansible-cp");
      const tmp = join(dir, "ansible-tmp");
      for (const d of [cp, tmp]) if (!existsSync(d)) mkdirSync(d, { mode: 0o700, recursive: true });
      return {
        ANSIBLE_SSH_CONTROL_PATH_DIR: cp,
        ANSIBLE_LOCAL_TEMP: tmp,
        ANSIBLE_HOST_KEY_CHECKING: "True",
        ANSIBLE_NOCOLOR: "1",
        ANSIBLE_NOCOWS: "1",
        ANSIBLE_RETRY_FILES_ENABLED: "False",
        ANSIBLE_DEPRECATION_WARNINGS: "False",
      };
    },
    destroy,
  };
  return fleet;
}
