/**
 * The rules every server has unless its config turns one off (alerts.disabled_builtins): recording
 * evasion, code fetched and run, destruction, and the pipeline's own events. Each is a predicate on
 * the normalised command (normalize.ts), never a bare substring of the text, so `vim init.py` is
 * not `init` and `sudo /sbin/reboot` is `reboot`.
 */
import type { SimpleCommand } from "./normalize.ts";
import { SHELLS } from "./normalize.ts";
import type { ProgramFilter, RuleInput, Severity } from "./rules.ts";

export const SILENT_HOST_RULE = "pipeline.silent-host";

export interface BuiltinRule {
  id: string;
  severity: Severity;
  description: string;
  /**
   * The programs without one of which `test` is false (rules.ts ProgramFilter): most lines run none
   * of them and skip the test. Undefined: the test runs on every line.
   */
  programs?: ProgramFilter;
  /** Strings one of which the normalised words of every line it matches hold (rules.ts Rule.mentions). */
  mentions?: readonly string[];
  test(input: RuleInput, commands: SimpleCommand[]): boolean;
}

/** Shells a person can type commands into that the hook does not record. */
const OTHER_SHELLS = new Set(["sh", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "ash", "busybox"]);
/** Every HISTORY_VARS name holds one of these. */
const HISTORY_VAR_WORDS = ["HIST", "PROMPT_COMMAND", "PS0"];
const HISTORY_VARS = /^(HISTFILE|HISTCONTROL|HISTIGNORE|HISTSIZE|HISTFILESIZE|HISTTIMEFORMAT|PROMPT_COMMAND|PS0)(\[[^\]]*\])?\+?(=|$)/;
/** The hook, its log, the reporter and its state, the daemon's spool, their cron entry and unit. */
const RECORDER_PATHS = /(\/etc\/profile\.d\/00-cmdaudit\.sh|\/var\/log\/cmdaudit|\/var\/lib\/cmdaudit|\/var\/spool\/cmdaudit|\/etc\/cmdaudit|\/etc\/cron\.d\/cmdaudit|\/usr\/local\/bin\/cmdaudit|cmdaudit-stampd|\/etc\/bash\.bashrc|\/etc\/bashrc|\/etc\/profile(\s|$))/;
/** Every RECORDER_PATHS alternative holds one of these words: the cheap test before the regex. */
const RECORDER_WORDS = ["cmdaudit", "profile", "bashrc"];
// RECORDER_WORDS spelled out: it runs on every argument of every line the filter passes, and a loop over the list cost more.
const mentionsRecorder = (s: string) => s.includes("cmdaudit") || s.includes("profile") || s.includes("bashrc");
/** Programs that only read what they are given. */
const READERS = new Set(["cat", "less", "more", "head", "tail", "grep", "egrep", "fgrep", "zgrep", "ls", "stat", "file", "wc", "lsattr", "md5sum", "sha1sum", "sha256sum", "view", "diff", "cmp", "tailf", "zcat", "journalctl"]);

const words = (c: SimpleCommand) => c.args.join(" ");
const has = (c: SimpleCommand, re: RegExp) => c.args.some((a) => re.test(a));
/** A flag given alone or in a bundle: `-r`, `-rf`, `-fr`, `--recursive`. */
const flag = (c: SimpleCommand, short: string, long?: string) =>
  c.args.some((a) => (a.startsWith("-") && !a.startsWith("--") && a.slice(1).includes(short)) || (long !== undefined && a === long));
/** A command whose output feeds the next one, and that next one. */
function pipes(cmds: SimpleCommand[], from: (c: SimpleCommand) => boolean, to: (c: SimpleCommand) => boolean): boolean {
  for (let i = 0; i + 1 < cmds.length; i++) {
    if (!cmds[i]!.pipeTo || !from(cmds[i]!)) continue;
    // Through filters in between: `curl … | tee x | sh`.
    for (let j = i + 1; j < cmds.length; j++) {
      if (to(cmds[j]!)) return true;
      if (!cmds[j]!.pipeTo) break;
    }
  }
  return false;
}
const isShell = (c: SimpleCommand) => SHELLS.has(c.program) && !c.args.some((a) => a === "-n" || a === "--version" || a === "--help");
const FETCHERS = new Set(["curl", "wget", "fetch", "lwp-request", "GET", "aria2c"]);
const fetcher = (c: SimpleCommand) => FETCHERS.has(c.program) || (c.program === "nc" && c.args.length > 0);
/** Every line that runs a fetcher holds one of these: `nc` is one only with arguments, so a blank follows it. */
const FETCHER_MENTIONS = ["curl", "wget", "fetch", "lwp-request", "GET", "aria2c", "nc ", "nc\t", "nc\r"];
const MKFS = /^(mkfs(\..+)?|mke2fs|mkswap|wipefs)$/;

export const BUILTIN_RULES: BuiltinRule[] = [
  {
    id: "evasion.history-off", severity: "critical", description: "Turns recording of history off (set +o history, shopt -u, set -o nohistory)",
    programs: new Set(["set"]),
    mentions: ["history"],
    test: (_i, cmds) => cmds.some((c) => c.program === "set" && /(^|\s)\+o\s+history(\s|$)/.test(words(c))),
  },
  {
    id: "evasion.history-vars", severity: "critical", description: "Changes what bash records or where (HISTFILE, HISTCONTROL, HISTIGNORE, HISTSIZE, PROMPT_COMMAND…)",
    mentions: HISTORY_VAR_WORDS,
    test: (_i, cmds) => cmds.some((c) =>
      c.assignments.some((a) => HISTORY_VARS.test(a))
      || (["unset", "export", "declare", "typeset", "readonly", "local"].includes(c.program) && c.args.some((a) => HISTORY_VARS.test(a)))),
  },
  {
    id: "evasion.history-edit", severity: "critical", description: "Clears, deletes or rewrites history entries (history -c, -d, -s, -w /dev/null)",
    programs: new Set(["history"]),
    test: (_i, cmds) => cmds.some((c) => c.program === "history" && (flag(c, "c") || flag(c, "d") || flag(c, "s") || (flag(c, "w") && has(c, /^\/dev\/null$/)))),
  },
  {
    id: "evasion.recorder-files", severity: "critical", description: "Writes, moves or removes the hook, its log, the reporter or its state",
    mentions: RECORDER_WORDS,
    test: (i, cmds) => cmds.some((c) => {
      if (!mentionsRecorder(c.program) && !c.args.some(mentionsRecorder)) return false;
      const text = [c.program, ...c.args].join(" ");
      if (!RECORDER_PATHS.test(text)) return false;
      return !READERS.has(c.program) || c.args.some((a) => a.startsWith(">")) || /(^|[^<])>\s*\S*(cmdaudit|profile)/.test(i.command);
    }),
  },
  {
    id: "evasion.chattr", severity: "critical", description: "Removes the append-only or immutable flag of a file (chattr -a, -i)",
    programs: new Set(["chattr"]),
    test: (_i, cmds) => cmds.some((c) => c.program === "chattr" && has(c, /^-[A-Za-z]*[ai]/)),
  },
  {
    id: "evasion.kill-recorder", severity: "critical", description: "Stops or kills cmdaudit's reporter or stamping daemon",
    programs: new Set(["kill", "pkill", "killall", "systemctl", "service", "crontab"]),
    mentions: ["cmdaudit", "crontab"],
    test: (_i, cmds) => cmds.some((c) =>
      (["kill", "pkill", "killall"].includes(c.program) && has(c, /cmdaudit/))
      || (["systemctl", "service"].includes(c.program) && has(c, /cmdaudit/) && has(c, /^(stop|disable|mask|kill)$/))
      || (c.program === "crontab" && flag(c, "r"))),
  },
  {
    id: "evasion.other-shell", severity: "warning", description: "Starts a shell whose commands the hook does not record (exec into a shell, bash --norc/--noprofile, an interactive sh, zsh…)",
    programs: new Set([...SHELLS, ...OTHER_SHELLS]),
    test: (_i, cmds) => cmds.some((c) => {
      const interactive = !c.args.some((a) => !a.startsWith("-") || a === "--version" || a === "--help") && !flag(c, "c") && !flag(c, "n");
      if (c.via.includes("exec") && SHELLS.has(c.program) && interactive) return true;
      if (c.program === "bash") return c.args.some((a) => ["--norc", "--noprofile", "--rcfile", "--init-file", "--posix"].includes(a));
      return OTHER_SHELLS.has(c.program) && interactive;
    }),
  },
  {
    id: "exec.download-to-shell", severity: "critical", description: "Runs what it downloads (curl … | sh, sh <(curl …), bash -c \"$(wget …)\")",
    programs: new Set([...SHELLS, ...FETCHERS, "nc"]),
    mentions: FETCHER_MENTIONS,
    test: (_i, cmds) => pipes(cmds, fetcher, isShell)
      || cmds.some((c) => isShell(c) && c.args.some((a) => /^[<$]\(|\$\(|`/.test(a) && /\b(curl|wget|fetch)\b/.test(a))),
  },
  {
    id: "exec.base64-to-shell", severity: "critical", description: "Decodes and runs hidden code (base64 -d | sh, xxd -r | bash)",
    programs: new Set(["base64", "openssl", "xxd"]),
    mentions: ["base64", "xxd"],
    test: (_i, cmds) => pipes(cmds, (c) => (c.program === "base64" && (flag(c, "d") || flag(c, "D") || has(c, /^--decode$/)))
      || (c.program === "openssl" && c.args[0] === "base64" && flag(c, "d")) || (c.program === "xxd" && flag(c, "r")), isShell),
  },
  {
    id: "destroy.rm-root", severity: "critical", description: "Removes the root file system recursively (rm -rf /, rm -rf /*, --no-preserve-root)",
    programs: new Set(["rm"]),
    test: (_i, cmds) => cmds.some((c) => c.program === "rm" && (flag(c, "r") || flag(c, "R", "--recursive"))
      && c.args.some((a) => a === "/" || a === "/*" || a === "--no-preserve-root" || /^\/+\*?$/.test(a))),
  },
  {
    id: "destroy.mkfs", severity: "critical", description: "Makes a file system (erases a device): mkfs, mkfs.*, mke2fs, wipefs",
    programs: (p) => MKFS.test(p),
    mentions: ["mkfs", "mke2fs", "mkswap", "wipefs"],
    test: (_i, cmds) => cmds.some((c) => MKFS.test(c.program) && c.args.length > 0),
  },
  {
    id: "destroy.dd-disk", severity: "critical", description: "Writes straight to a disk device (dd of=/dev/sd*, nvme*, vd*…)",
    programs: new Set(["dd"]),
    mentions: ["of=/dev/"],
    test: (_i, cmds) => cmds.some((c) => c.program === "dd" && has(c, /^of=\/dev\/(sd|hd|vd|xvd|nvme|mmcblk|md|dm-|disk\/)/)),
  },
  {
    id: "destroy.firewall-flush", severity: "critical", description: "Flushes or stops the firewall (iptables -F, nft flush ruleset, ufw disable)",
    programs: new Set(["iptables", "ip6tables", "iptables-legacy", "iptables-nft", "nft", "ufw", "systemctl", "service"]),
    mentions: ["iptables", "ip6tables", "nft", "ufw", "firewalld"],
    test: (_i, cmds) => cmds.some((c) =>
      (["iptables", "ip6tables", "iptables-legacy", "iptables-nft"].includes(c.program) && (flag(c, "F") || has(c, /^--flush$/)))
      || (c.program === "nft" && /\bflush\s+ruleset\b/.test(words(c)))
      || (c.program === "ufw" && c.args[0] === "disable")
      || (["systemctl", "service"].includes(c.program) && has(c, /^(firewalld|ufw|iptables|nftables)(\.service)?$/) && has(c, /^(stop|disable|mask)$/))),
  },
  {
    id: "destroy.audit-off", severity: "critical", description: "Stops kernel auditing (auditd stopped, auditctl -e 0 or -D)",
    programs: new Set(["systemctl", "service", "auditctl"]),
    mentions: ["audit"],
    test: (_i, cmds) => cmds.some((c) =>
      (["systemctl", "service"].includes(c.program) && has(c, /^auditd(\.service)?$/) && has(c, /^(stop|disable|mask|kill)$/))
      || (c.program === "auditctl" && (/(^|\s)-e\s+0(\s|$)/.test(words(c)) || flag(c, "D")))),
  },
  {
    id: "pipeline.loss", severity: "warning", description: "Records were lost between the shell and the server (a loss record)",
    test: (i) => i.kind === "loss",
  },
  {
    id: "pipeline.forged", severity: "critical", description: "A record whose users are not the ones the kernel stamped (a forgery attempt)",
    test: (i) => i.flags.includes("forged"),
  },
  {
    id: "pipeline.conflict", severity: "warning", description: "Two records came with one key and different content (a pre-empted or replayed record)",
    test: (i) => i.flags.includes("conflict"),
  },
  {
    id: SILENT_HOST_RULE, severity: "warning",
    description: "A host stored nothing for longer than its usual cadence (at least hosts.silent_after_seconds): its reporter, network or hook may be down",
    // Raised by the server's clock, not by a record (silence.ts).
    test: () => false,
  },
];
