/** Host name patterns of the console's host groups and of alert rules. */
import { expect, test } from "bun:test";
import { hostPatterns } from "../../server/src/host-patterns.ts";

test("whole names, `*` the only wildcard, other characters literal, case-insensitive", () => {
  const m = hostPatterns(["web-*", "db1.example.com", "*.lb.*", "a+b"]);
  const yes = ["web-1", "WEB-12.prod", "db1.example.com", "DB1.Example.COM", "x.lb.y", "a+b"];
  const no = ["web", "xweb-1", "db1xexample.com", "db1.example.com.evil", "lb.y", "aab", "a+bb", ""];
  expect(yes.filter((h) => !m(h))).toEqual([]);
  expect(no.filter((h) => m(h))).toEqual([]);
  expect(hostPatterns([])("web-1")).toBe(false);
});
