/** Reading stored rows back through the query API, as the black-box tests compare them. */

/** Every row a query matches, through the NDJSON export with a read token, in the export's order. */
export async function exportRows<T>(baseUrl: string, filter: Record<string, string>, readToken: string): Promise<T[]> {
  const q = new URLSearchParams({ ...filter, format: "ndjson" });
  const res = await fetch(`${baseUrl}/api/v1/commands?${q}`, { headers: { AccessToken: readToken } });
  if (res.status !== 200) throw new Error(`query answered ${res.status}: ${await res.text()}`);
  return (await res.text()).split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as T);
}

/** A stored command's exact bytes: `commandB64` when they are not UTF-8, else `command`. */
export function commandBytes(r: { command: string; commandB64?: string }): Buffer {
  return r.commandB64 !== undefined ? Buffer.from(r.commandB64, "base64") : Buffer.from(r.command, "utf8");
}
