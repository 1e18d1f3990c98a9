// Cached Debian root filesystems for the test fleet, built once with mmdebstrap.
//
// Each kind ("modern", "legacy") is one tarball under CACHE_DIR named after a hash
// of everything that goes into it (suite, mirror, variant, packages, the build
// hooks), plus the same tree extracted beside it: the read-only lower layer of every
// host's overlay. A second process that needs the same rootfs waits on a flock
// instead of building it twice. The .debs of the first build are kept in
// CACHE_DIR/debs and handed to the next build, so the second kind downloads nothing.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { must } from "./run.ts";

export type HostKind = "modern" | "legacy";

export const CACHE_DIR = process.env.CMDAUDIT_FLEET_CACHE ?? "/var/cache/cmdaudit-fleet";
export const SUITE = "bookworm";
export const MIRROR = "http://deb.debian.org/debian";
export const VARIANT = "minbase";

/** Packages on every host (on top of Debian's "required" priority). */
export const COMMON_PACKAGES = [
  "bash", "sudo", "iproute2", "curl", "ca-certificates", "cron", "procps", "e2fsprogs",
  "openssh-server", "less", "acl",
] as const;
/** Only on modern hosts: what Ansible's normal modules need (python3-apt for the apt/package modules, offline). */
export const PYTHON_PACKAGES = ["python3", "python3-apt"] as const;

export function packagesFor(kind: HostKind): string[] {
  return kind === "modern" ? [...COMMON_PACKAGES, ...PYTHON_PACKAGES] : [...COMMON_PACKAGES];
}

/** The uid of the ordinary user on every host. */
export const ALICE_UID = 1000;

// Run on the finished tree ($1) before it is packed. Host keys are removed (each host gets
// its own), alice exists with no password (`*`: key login only, not "locked").
const CUSTOMIZE = [
  `chroot "$1" useradd --create-home --shell /bin/bash --uid ${ALICE_UID} --user-group alice`,
  `chroot "$1" usermod -p '*' alice`,
  `printf 'alice ALL=(ALL:ALL) NOPASSWD: ALL\\n' > "$1/etc/sudoers.d/alice" && chmod 0440 "$1/etc/sudoers.d/alice"`,
  `rm -f "$1"/etc/ssh/ssh_host_*`,
  `rm -f "$1"/var/cache/apt/archives/*.deb`,
];

function buildArgs(kind: HostKind, tarball: string): string[] {
  const debs = join(CACHE_DIR, "debs");
  return [
    "mmdebstrap", "--mode=root", `--variant=${VARIANT}`, "--format=tar",
    "--aptopt=APT::Install-Recommends \"false\"",
    `--include=${packagesFor(kind).join(",")}`,
    // Reuse downloaded .debs across builds (mmdebstrap(1), "--skip=download/empty").
    "--skip=download/empty", "--skip=essential/unlink",
    `--setup-hook=mkdir -p "$1"/var/cache/apt/archives/`,
    `--setup-hook=sync-in ${debs} /var/cache/apt/archives/`,
    `--customize-hook=sync-out /var/cache/apt/archives ${debs}`,
    ...CUSTOMIZE.map((h) => `--customize-hook=${h}`),
    SUITE, tarball, MIRROR,
  ];
}

export interface BaseRootfs {
  kind: HostKind;
  key: string;
  tarball: string;
  /** The extracted tree; never written to (it is every host's overlay lower layer). */
  dir: string;
}

export function baseRootfsPaths(kind: HostKind): BaseRootfs {
  const args = buildArgs(kind, "OUT");
  const key = createHash("sha256").update(JSON.stringify({ v: 1, kind, args })).digest("hex").slice(0, 16);
  const name = `${kind}-${SUITE}-${key}`;
  return { kind, key, tarball: join(CACHE_DIR, `${name}.tar`), dir: join(CACHE_DIR, name) };
}

/** Whether the kind's rootfs is already cached (no mmdebstrap, no network needed). */
export function baseRootfsReady(kind: HostKind): boolean {
  return ready(baseRootfsPaths(kind));
}

const ready = (b: BaseRootfs) => existsSync(b.tarball) && existsSync(join(b.dir, ".cmdaudit-fleet-complete"));

/** Python binaries in a tree's bin directories (a legacy host must have none). */
export function pythonBinaries(root: string): string[] {
  const found: string[] = [];
  for (const d of ["usr/bin", "usr/sbin", "usr/local/bin", "usr/local/sbin", "bin", "sbin"]) {
    let names: string[] = [];
    try {
      names = readdirSync(join(root, d));
    } catch {
      continue;
    }
    for (const n of names) if (/^python/.test(n)) found.push(`/${d}/${n}`);
  }
  return found;
}

/**
 * The cached rootfs of a kind, building it (a few minutes, needs Debian's mirror) when
 * it is missing. Safe to call from several processes at once.
 */
export async function ensureBaseRootfs(kind: HostKind): Promise<BaseRootfs> {
  const b = baseRootfsPaths(kind);
  if (!ready(b)) await build(b);
  if (kind === "legacy") {
    const py = pythonBinaries(b.dir);
    if (py.length) throw new Error(`legacy rootfs ${b.dir} has python: ${py.join(" ")}`);
  }
  return b;
}

async function build(b: BaseRootfs): Promise<void> {
  const kind = b.kind;
  mkdirSync(join(CACHE_DIR, "debs"), { recursive: true });
  const argv = buildArgs(kind, `${b.tarball}.tmp`);
  const script = `
set -euo pipefail
if [ ! -e "$TARBALL" ]; then
  rm -f "$TARBALL.tmp"
  "$@"
  mv "$TARBALL.tmp" "$TARBALL"
fi
if [ ! -e "$DIR/.cmdaudit-fleet-complete" ]; then
  rm -rf --one-file-system "$DIR" "$DIR.tmp"
  mkdir -m 0755 "$DIR.tmp"
  tar --numeric-owner --xattrs --xattrs-include='*' -xpf "$TARBALL" -C "$DIR.tmp"
  touch "$DIR.tmp/.cmdaudit-fleet-complete"
  mv "$DIR.tmp" "$DIR"
fi`;
  for (const bin of ["mmdebstrap", "flock", "tar"]) {
    if (!Bun.which(bin)) throw new Error(`${bin} is not installed (apt-get install mmdebstrap util-linux tar)`);
  }
  await must(["flock", join(CACHE_DIR, ".build.lock"), "bash", "-c", script, "build", ...argv], {
    env: { TARBALL: b.tarball, DIR: b.dir },
    timeoutMs: 20 * 60_000,
  });
  if (!ready(b)) throw new Error(`rootfs build for ${kind} finished without ${b.dir}`);
  pruneOld(b);
}

/** Drop this kind's cache entries of other keys (an older package list), unless a live host still uses one. */
function pruneOld(b: BaseRootfs): void {
  const current = `${b.kind}-${SUITE}-${b.key}`;
  const mounts = readFileSync("/proc/self/mountinfo", "utf8");
  for (const e of readdirSync(CACHE_DIR)) {
    const m = new RegExp(`^(${b.kind}-[a-z]+-[0-9a-f]{16})(\\.tar)?$`).exec(e);
    if (!m || m[1] === current) continue;
    if (mounts.includes(`lowerdir=${join(CACHE_DIR, m[1]!)},`)) continue;
    rmSync(join(CACHE_DIR, e), { recursive: true, force: true });
  }
}
