/** The command normaliser: what each simple command of a line runs, however it is dressed up. */
import { describe, expect, test } from "bun:test";
import { normalize } from "../../server/src/alerts/normalize.ts";

const programs = (line: string) => normalize(line).map((c) => c.program);

describe("the program a line runs, through prefixes, quoting and separators", () => {
  test.each([
    ["reboot", ["reboot"]],
    ["sudo /sbin/reboot", ["reboot"]],
    ["sudo -u root -E -- /usr/sbin/reboot now", ["reboot"]],
    ["env -i PATH=/bin FOO=1 reboot", ["reboot"]],
    ["nohup reboot &", ["reboot"]],
    ["time -p reboot", ["reboot"]],
    ["command -p reboot", ["reboot"]],
    ["exec -a x reboot", ["reboot"]],
    ["nice -n 5 reboot", ["reboot"]],
    ["nice -5 reboot", ["reboot"]],
    ["timeout 10s reboot", ["reboot"]],
    ["timeout -s KILL 10 reboot", ["reboot"]],
    ["stdbuf -o0 reboot", ["reboot"]],
    ["X=1 Y=2 reboot", ["reboot"]],
    ["sudo env nohup time /sbin/reboot", ["reboot"]],
    ["'re'boot", ["reboot"]],
    ['r""eboot', ["reboot"]],
    ["re\\boot", ["reboot"]],
    ["echo hi; reboot", ["echo", "reboot"]],
    ["true && reboot", ["true", "reboot"]],
    ["false || reboot", ["false", "reboot"]],
    ["cat x | reboot", ["cat", "reboot"]],
    ["cat x |& reboot", ["cat", "reboot"]],
    ["(reboot)", ["reboot"]],
    ["{ reboot; }", ["reboot"]],
    ["echo a\nreboot", ["echo", "reboot"]],
    ["sleep 1 & reboot", ["sleep", "reboot"]],
    ["bash -c 'reboot'", ["bash", "reboot"]],
    ['sh -c "sleep 1; reboot"', ["sh", "sleep", "reboot"]],
    ["su -c reboot root", ["su", "reboot"]],
    ["eval reboot", ["eval", "reboot"]],
    ["echo $(reboot)", ["echo", "reboot"]],
    ["echo `reboot`", ["echo", "reboot"]],
    ['echo "$(sudo reboot)"', ["echo", "reboot"]],
    ["diff <(reboot) x", ["diff", "reboot"]],
    ["HISTFILE=/dev/null", [""]],
  ])("%j runs %j", (line, want) => {
    expect(programs(line)).toEqual(want);
  });
});

describe("what is not a program run", () => {
  test.each([
    ["vim init.py", ["vim"]],
    ["echo reboot", ["echo"]],
    ["man reboot", ["man"]],
    ["grep -r 'reboot; init' /var/log", ["grep"]],
    ["echo 'a; reboot'", ["echo"]],
    ['echo "a && reboot"', ["echo"]],
    ["/opt/reboot-tools/run", ["run"]],
    ["rebooter --now", ["rebooter"]],
  ])("%j runs %j only", (line, want) => {
    expect(programs(line)).toEqual(want);
  });
});

test("arguments lose their quotes; assignments and prefixes are kept apart; a pipe is marked", () => {
  expect(normalize(`sudo -u bob HISTFILE=/dev/null "rm" -rf '/tmp/a b' | tee x`)).toEqual([
    { program: "rm", args: ["-rf", "/tmp/a b"], assignments: ["HISTFILE=/dev/null"], via: ["sudo"], pipeTo: true },
    { program: "tee", args: ["x"], assignments: [], via: [], pipeTo: false },
  ]);
});

test("fuzz: any text normalises without throwing, in bounded time, nested substitutions included", () => {
  const parts = ["$(", ")", "`", "'", '"', "\\", ";", "|", "&&", "||", "&", "\n", " ", "sudo", "env", "x=1", "<(", "{", "}", "(", "sh -c", "eval", "reboot", "-u"];
  let seed = 1;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  const t0 = performance.now();
  for (let i = 0; i < 5000; i++) {
    const line = Array.from({ length: 1 + rnd(40) }, () => parts[rnd(parts.length)]).join("");
    expect(Array.isArray(normalize(line))).toBe(true);
  }
  expect(normalize("$(".repeat(2000) + "reboot" + ")".repeat(2000)).length).toBeGreaterThan(0);
  expect(performance.now() - t0).toBeLessThan(20_000);
});
