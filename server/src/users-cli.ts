/**
 * `cmdaudit-server user add|remove|list`: the console's people. A password is read from stdin (its
 * first line), never from the command line (other users see argv in ps); with none given a random
 * one is made and printed once.
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import type { Config } from "./config.ts";
import type { ConsoleRole, Store } from "./db/store.ts";

export const USER_USAGE = `       cmdaudit-server user add NAME [--role reader|admin] [--groups G,...] [--password-stdin]
       cmdaudit-server user remove NAME
       cmdaudit-server user list`;

const NAME = /^[A-Za-z0-9._@-]{1,64}$/;

/** Runs the subcommand; the exit status. Problems go to stderr, naming what is wrong. */
export async function userCommand(argv: string[], config: Config, openStore: () => Promise<Store>, io = { out: process.stdout, err: process.stderr, stdin: () => Bun.stdin.text() }): Promise<number> {
  const fail = (m: string) => {
    io.err.write(`cmdaudit-server user: ${m}\n${USER_USAGE}\n`);
    return 2;
  };
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: { role: { type: "string" }, groups: { type: "string" }, "password-stdin": { type: "boolean" }, config: { type: "string", short: "c" } },
    });
  } catch (e) {
    return fail((e as Error).message.split("\n")[0]!);
  }
  const [verb, name, ...rest] = parsed.positionals;
  const v = parsed.values;
  if (rest.length) return fail(`unexpected argument: ${rest[0]}`);
  if (verb === "list") {
    if (name) return fail("list takes no name");
    const store = await openStore();
    try {
      for (const u of await store.consoleUsers()) io.out.write(`${u.name}\t${u.role}\t${u.role === "admin" ? "*" : u.hostGroups.join(",") || "(no hosts)"}\n`);
    } finally {
      await store.close();
    }
    return 0;
  }
  if (verb !== "add" && verb !== "remove") return fail(verb ? `unknown action: ${verb}` : "add, remove or list?");
  if (!name || !NAME.test(name)) return fail("a user name holds only A-Z a-z 0-9 . _ @ - (1-64 characters)");
  if (verb === "remove") {
    if (v.role !== undefined || v.groups !== undefined || v["password-stdin"]) return fail("remove takes only a name");
    const store = await openStore();
    try {
      if (!(await store.removeConsoleUser(name))) return fail(`no user ${name}`);
    } finally {
      await store.close();
    }
    io.out.write(`removed ${name} and signed out every session of theirs\n`);
    return 0;
  }
  const role = (v.role ?? "reader") as ConsoleRole;
  if (role !== "reader" && role !== "admin") return fail("--role: reader or admin");
  const groups = v.groups === undefined ? [] : v.groups.split(",").map((g) => g.trim()).filter(Boolean);
  const unknown = groups.filter((g) => g !== "*" && !(g in config.console.host_groups));
  if (unknown.length) return fail(`--groups: not in console.host_groups of the config: ${unknown.join(", ")}`);
  if (role === "reader" && !groups.length) io.err.write("cmdaudit-server user: note: a reader without --groups sees no host (--groups '*' for every host)\n");
  let password: string;
  let made = false;
  if (v["password-stdin"]) {
    password = (await io.stdin()).split("\n")[0]!.replace(/\r$/, "");
    if (password.length < 12) return fail("the password must be at least 12 characters");
  } else {
    password = randomBytes(18).toString("base64url");
    made = true;
  }
  const store = await openStore();
  try {
    await store.putConsoleUser({ name, role, hostGroups: groups, passwordHash: await Bun.password.hash(password), createdUs: Date.now() * 1000 });
  } finally {
    await store.close();
  }
  io.out.write(made ? `${name} (${role}): password ${password}\n` : `${name} (${role}) saved\n`);
  return 0;
}
