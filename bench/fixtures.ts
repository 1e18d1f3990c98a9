import { type EncodableRecord, encodeRecord, type WireRecord } from "../protocol/index.ts";

const COMMANDS = [
  "ls -la /var/log", "systemctl status nginx", "tail -n 200 /var/log/messages | grep -i error",
  "cd /data/app && git pull --rebase origin main", "docker ps --format '{{.Names}}\\t{{.Status}}'",
  "vim /etc/nginx/conf.d/site.conf", "kubectl -n prod get pods -o wide", "df -h; free -m; uptime",
  "find / -xdev -name '*.core' -mtime +7 -delete", "mysql -e 'show processlist'",
];

/** A realistic hook record: a reporter's batch comes from one host (1000 records each), 200 users. */
export function benchRecord(i: number, baseUs = Date.UTC(2026, 9, 1) * 1000): WireRecord {
  const host = Math.floor(i / 1000) % 1000;
  const user = i % 200;
  const tsUs = baseUs + i * 250_000; // 4 records a second across the fleet
  const d = new Date(tsUs / 1000 + 8 * 3600_000);
  const iso = d.toISOString().replace("Z", "").slice(0, 23) + "+08:00";
  return {
    kind: "command",
    ctime: iso,
    hostname: `web-${host.toString().padStart(4, "0")}.prod.example.com`,
    serverIps: `10.${host >> 8}.${host & 255}.4,fd00::${host.toString(16)}`,
    suser: i % 7 === 0 ? "root" : `u${user}`,
    luser: `u${user}`,
    terminal: `pts/${i % 12}`,
    clientIp: `192.168.${user >> 4}.${(user & 15) + 10}`,
    sessionId: `b${host}-${user}-${Math.floor(i / 200_000)}`,
    seq: i,
    cwd: `/home/u${user}`,
    exitStatus: i % 13 === 0 ? 1 : 0,
    command: COMMANDS[i % COMMANDS.length]! + ` #${i}`,
  };
}

/** A benchRecord as the hook writes it (CA2 lines); benchRecord fills every field the encoder needs. */
export function encodeBenchRecord(w: WireRecord): Uint8Array {
  return encodeRecord({ ...w, command: w.command ?? "" } as EncodableRecord);
}
