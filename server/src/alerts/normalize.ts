/**
 * A command line as the rules see it: the simple commands it runs, each with its program name
 * (directories stripped) and arguments (quotes removed), after the prefixes that only run another
 * command (`sudo`, `env`, `nohup`, `time`, `command`, `exec`, `nice`, `timeout`, `stdbuf`, `xargs`)
 * and leading variable assignments. Split at unquoted `;`, `&&`, `||`, `|`, `&` and newlines; the
 * text of `$(…)`, `` `…` `` and `<(…)` is split too, as commands of their own. Shell syntax is far
 * larger than this; what it does not understand it keeps as words, so a rule errs towards matching.
 */

export interface SimpleCommand {
  /** The program as run, without directories: `/sbin/reboot` → `reboot`. Empty for assignments alone. */
  program: string;
  args: string[];
  /** Variable assignments before the program (`HISTFILE=/dev/null cmd`, or alone). */
  assignments: string[];
  /** The prefixes stripped, in order (`sudo`, `exec`, …). */
  via: string[];
  /** What joins it to the next command: `|` (its output feeds the next), or `;` for any other. */
  pipeTo: boolean;
}

const PREFIX_OPTIONS_WITH_VALUE: Record<string, Set<string>> = {
  sudo: new Set(["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "--user", "--group", "--chdir", "--host", "--prompt", "--role", "--type", "--other-user", "--command-timeout", "--close-from"]),
  env: new Set(["-u", "--unset", "-C", "--chdir", "-S", "--split-string"]),
  nice: new Set(["-n", "--adjustment"]),
  exec: new Set(["-a"]),
  timeout: new Set(["-s", "--signal", "-k", "--kill-after"]),
  stdbuf: new Set(["-i", "-o", "-e", "--input", "--output", "--error"]),
  xargs: new Set(["-a", "-d", "-E", "-e", "-I", "-i", "-L", "-l", "-n", "-P", "-s", "--arg-file", "--delimiter", "--max-args", "--max-procs", "--replace", "--max-chars", "--max-lines"]),
  time: new Set(["-f", "-o", "--format", "--output"]),
  command: new Set(),
  nohup: new Set(),
  builtin: new Set(),
};

/** Programs that are shells: a command piped into one, or exec'd into one, is run by it. */
export const SHELLS = new Set(["sh", "bash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "ash", "busybox", "python", "python2", "python3", "perl", "ruby", "php", "node"]);

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/;

/** Words of a command line and the separators between them, quotes removed; substitutions collected apart. */
function lex(text: string, nested: string[]): ({ word: string } | { sep: "|" | ";" })[] {
  const out: ({ word: string } | { sep: "|" | ";" })[] = [];
  let word = "";
  let inWord = false;
  const end = () => {
    if (inWord) out.push({ word });
    word = "";
    inWord = false;
  };
  /** The text up to the `)` that closes an opening at i (quotes and nesting respected); returns the index after it. */
  const closing = (i: number): number => {
    let depth = 1;
    let q: string | undefined;
    for (let j = i; j < text.length; j++) {
      const ch = text[j]!;
      if (q) {
        if (ch === "\\" && q === '"') j++;
        else if (ch === q) q = undefined;
      } else if (ch === "\\") j++;
      else if (ch === "'" || ch === '"') q = ch;
      else if (ch === "(") depth++;
      else if (ch === ")" && --depth === 0) return j;
    }
    return text.length;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    const next = text[i + 1];
    if (ch === "\\") {
      if (next === "\n") { i++; continue; }
      word += next ?? "";
      inWord = true;
      i++;
    } else if (ch === "'") {
      const j = text.indexOf("'", i + 1);
      word += text.slice(i + 1, j < 0 ? text.length : j);
      inWord = true;
      i = j < 0 ? text.length : j;
    } else if (ch === '"') {
      inWord = true;
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === "\\" && j + 1 < text.length) { word += text[++j]; continue; }
        if (text[j] === "$" && text[j + 1] === "(") {
          const k = closing(j + 2);
          nested.push(text.slice(j + 2, k));
          word += text.slice(j, k + 1);
          j = k;
          continue;
        }
        if (text[j] === "`") {
          const k = text.indexOf("`", j + 1);
          nested.push(text.slice(j + 1, k < 0 ? text.length : k));
          j = k < 0 ? text.length : k;
          continue;
        }
        word += text[j];
      }
      i = j;
    } else if ((ch === "$" || ch === "<" || ch === ">") && next === "(") {
      const k = closing(i + 2);
      nested.push(text.slice(i + 2, k));
      word += text.slice(i, k + 1);
      inWord = true;
      i = k;
    } else if (ch === "`") {
      const k = text.indexOf("`", i + 1);
      nested.push(text.slice(i + 1, k < 0 ? text.length : k));
      inWord = true;
      i = k < 0 ? text.length : k;
    } else if (ch === "|" || ch === ";" || ch === "&" || ch === "\n") {
      end();
      // `|&` pipes too; `||`, `&&`, `;;`, `&` and a newline only sequence.
      if (ch === "|" && next !== "|") out.push({ sep: "|" });
      else out.push({ sep: ";" });
      if ((ch === "|" || ch === "&" || ch === ";") && next === ch) i++;
      else if (ch === "|" && next === "&") i++;
    } else if (ch === " " || ch === "\t" || ch === "\r") {
      end();
    } else if (ch === "(" || ch === ")" || ((ch === "{" || ch === "}") && !inWord)) {
      // Subshells and groups: their commands are commands of this line.
      end();
      out.push({ sep: ";" });
    } else {
      word += ch;
      inWord = true;
    }
  }
  end();
  return out;
}

const base = (p: string) => p.slice(p.lastIndexOf("/") + 1);

/** One simple command's words → program, args, assignments and the prefixes stripped. */
function simple(words: string[], pipeTo: boolean): SimpleCommand {
  const assignments: string[] = [];
  const via: string[] = [];
  let i = 0;
  const skipAssignments = () => { while (i < words.length && ASSIGNMENT.test(words[i]!)) assignments.push(words[i++]!); };
  skipAssignments();
  for (;;) {
    const w = words[i];
    if (w === undefined) break;
    const name = base(w);
    const withValue = PREFIX_OPTIONS_WITH_VALUE[name];
    if (!withValue) break;
    via.push(name);
    i++;
    // The prefix's own options; `--` ends them. A bare `command -v`/`-V` only looks a name up: the rest is not run.
    while (i < words.length && words[i]!.startsWith("-") && words[i] !== "-") {
      const opt = words[i]!;
      i++;
      if (opt === "--") break;
      if (withValue.has(opt)) i++;
    }
    if (name === "timeout" && /^\d+(\.\d+)?[smhd]?$/.test(words[i] ?? "")) i++; // its duration
    skipAssignments();
  }
  let program = words[i] !== undefined ? base(words[i]!) : "";
  // busybox runs its first argument as the program (`busybox sh`, `busybox rm -rf /`).
  if (program === "busybox" && /^[a-z][a-z0-9_.-]*$/.test(words[i + 1] ?? "")) {
    via.push(program);
    program = words[++i]!;
  }
  return { program, args: words.slice(i + 1), assignments, via, pipeTo };
}

/** The simple commands of a command line, the ones in substitutions after those of the line itself. */
export function normalize(text: string, depth = 0): SimpleCommand[] {
  const nested: string[] = [];
  const tokens = lex(text, nested);
  const out: SimpleCommand[] = [];
  let words: string[] = [];
  for (const t of tokens) {
    if ("word" in t) words.push(t.word);
    else {
      if (words.length) out.push(simple(words, t.sep === "|"));
      words = [];
    }
  }
  if (words.length) out.push(simple(words, false));
  // Strings another shell runs: `sh -c '…'`, `su -c '…'`, `eval …`.
  for (const c of [...out]) {
    if (c.program === "eval") nested.push(c.args.join(" "));
    else if (SHELLS.has(c.program) || c.program === "su" || c.program === "runuser") {
      const at = c.args.findIndex((a) => /^-[A-Za-z]*c[A-Za-z]*$/.test(a) || a === "--command");
      if (at >= 0 && c.args[at + 1] !== undefined) nested.push(c.args[at + 1]!);
    }
  }
  // Bounded: a hostile line of nested substitutions cannot make this recurse without end.
  if (depth < 4) for (const n of nested) out.push(...normalize(n, depth + 1));
  return out;
}
