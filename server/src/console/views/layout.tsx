import type { Child } from "hono/jsx";
import { formatCommandTime, formatUtcOffset } from "../../../../protocol/index.ts";
import type { Viewer } from "../session.ts";

/**
 * Every page: server-rendered, no inline script or style (the CSP forbids both), one stylesheet
 * and one small script, both served by this server from inside its binary.
 */
export function Layout(props: { title: string; viewer?: Viewer; children: Child; active?: "search" | "hosts" | "alerts" | "rules" | "access" }) {
  const v = props.viewer;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · cmdaudit`}</title>
        <link rel="stylesheet" href="/assets/console.css" />
        <script src="/assets/console.js" defer></script>
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/">cmdaudit</a>
          {v && (
            <nav>
              <a href="/" aria-current={props.active === "search" ? "page" : undefined}>Search</a>
              <a href="/hosts" aria-current={props.active === "hosts" ? "page" : undefined}>Hosts</a>
              <a href="/alerts" aria-current={props.active === "alerts" ? "page" : undefined}>Alerts</a>
              <a href="/rules" aria-current={props.active === "rules" ? "page" : undefined}>Rules</a>
              {v.user.role === "admin" && <a href="/access" aria-current={props.active === "access" ? "page" : undefined}>Access log</a>}
            </nav>
          )}
          {v && (
            <div class="who">
              <button type="button" id="tz-toggle" class="link" title="Show times in UTC or in this browser's zone (remembered)">UTC</button>
              <span>{v.user.name} ({v.user.role})</span>
              <form method="post" action="/logout" class="inline">
                <input type="hidden" name="_csrf" value={v.csrf} />
                <button type="submit" class="link">Sign out</button>
              </form>
            </div>
          )}
        </header>
        <main>{props.children}</main>
      </body>
    </html>
  );
}

/**
 * A time: UTC with its offset in the text; the script rewrites it into the viewer's zone when they
 * choose that. The host's own wall time and offset are in the title.
 */
export function Time(props: { tsUs: number; utcOffset: number | null }) {
  if (props.tsUs <= 0) return <span class="muted">unknown</span>;
  const utc = formatCommandTime(props.tsUs, 0).replace(/\.\d+/, "");
  const host = props.utcOffset === null ? "host offset unknown" : `host: ${formatCommandTime(props.tsUs, props.utcOffset).replace(/\.\d+/, "")} (${formatUtcOffset(props.utcOffset)})`;
  return <time datetime={new Date(Math.floor(props.tsUs / 1000)).toISOString()} title={host}>{utc.replace("T", " ").replace("+00:00", " +00:00")}</time>;
}

/** Command text as stored, with what a terminal would hide made visible: line breaks kept, control characters and bad bytes marked. */
export function CommandText(props: { text: string; raw: boolean }) {
  const parts: Child[] = [];
  let plain = "";
  const flush = () => {
    if (plain) parts.push(plain);
    plain = "";
  };
  for (const ch of props.text) {
    const cp = ch.codePointAt(0)!;
    if (ch === "\n") plain += ch;
    else if (cp === 0xfffd && props.raw) { flush(); parts.push(<mark class="bad" title="a byte that is not UTF-8 (the exact bytes are in the export's commandB64)">�</mark>); }
    else if (cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp < 0xa0) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp === 0xfeff) {
      flush();
      parts.push(<mark class="ctl" title={`U+${cp.toString(16).toUpperCase().padStart(4, "0")}`}>{cp === 0x1b ? "␛" : cp === 9 ? "⇥" : `<U+${cp.toString(16).toUpperCase().padStart(4, "0")}>`}</mark>);
    } else plain += ch;
  }
  flush();
  return <>{parts}</>;
}

/** The record's flags as badges; forged and conflict first, they are what an auditor looks for. */
export function Flags(props: { flags: string[] }) {
  const order = (f: string) => (f === "forged" ? 0 : f === "conflict" ? 1 : 2);
  return <>{[...props.flags].sort((a, b) => order(a) - order(b)).map((f) => <span class={`flag flag-${f}`}>{f}</span>)}</>;
}
