/**
 * Runs every test of the given test files on its own (`bun test <file> -t '^<full name>$'`) and
 * reports the ones that fail alone: a test that passes only after others ran depends on their order.
 *
 *   bun test/support/each-alone.ts [--jobs N] [files...]     (default: test/server/*.test.ts)
 *
 * Exit status 1 when a test fails alone or a name matches no test or more than one.
 */
import { Glob } from "bun";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { jobs: { type: "string", default: "2" }, timeout: { type: "string", default: "300" } } });
const jobs = Number(values.jobs);
const timeoutSec = Number(values.timeout);
if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs must be a positive integer, got ${values.jobs}`);
const files = positionals.length ? positionals : [...new Glob("test/server/*.test.ts").scanSync(".")].sort();

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

interface Run { code: number | null; out: string; timedOut: boolean }

/** bun test in its own process group, killed whole at the deadline. */
async function bunTest(args: string[]): Promise<Run> {
  const proc = Bun.spawn(["setsid", "bun", "test", "--timeout", "60000", ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try { process.kill(-proc.pid, "SIGKILL"); } catch { proc.kill("SIGKILL"); }
  }, timeoutSec * 1000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, out: out + err, timedOut };
}

/** Full test names ("describe test") of a file, from one run of the whole file. */
async function testNames(file: string): Promise<string[]> {
  const run = await bunTest([file]);
  const names: string[] = [];
  for (const line of run.out.split("\n")) {
    const m = /^\((?:pass|fail|skip|todo)\) (.*?)(?: \[[\d.]+m?s\])?$/.exec(line);
    if (m) names.push(m[1]!.split(" > ").join(" "));
  }
  if (!names.length) throw new Error(`no tests listed in ${file}:\n${run.out}`);
  if (run.code !== 0) console.log(`note: ${file} fails as a whole (exit ${run.code})`);
  return names;
}

const failures: string[] = [];
let ran = 0;
for (const file of files) {
  const names = await testNames(file);
  const queue = [...names];
  const worker = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const run = await bunTest([file, "-t", `^${escapeRegex(name)}$`]);
      ran++;
      const pass = /^ 1 pass$/m.test(run.out) && /^ 0 fail$/m.test(run.out);
      if (run.code !== 0 || !pass) {
        const why = run.timedOut ? `timed out after ${timeoutSec} s` : `exit ${run.code}`;
        failures.push(`${file} -t "${name}": ${why}\n${run.out.split("\n").filter((l) => /error|fail|expect|matched/i.test(l)).slice(0, 12).join("\n")}`);
        console.log(`FAIL ${file}: ${name}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, names.length) }, worker));
  console.log(`${file}: ${names.length} tests run alone`);
}
console.log(`\n${ran} tests run alone, ${failures.length} failed`);
for (const f of failures) console.log(`\n${f}`);
process.exit(failures.length ? 1 : 0);
