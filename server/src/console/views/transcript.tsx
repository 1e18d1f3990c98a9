import type { StoredRecord } from "../../db/store.ts";
import { CommandText, Flags, Time } from "./layout.tsx";

/** What a transcript has seen so far, carried from one streamed page to the next. */
export interface TranscriptState {
  lastSeq: number | undefined;
  ended: boolean;
  started: boolean;
  records: number;
}

export const newTranscriptState = (): TranscriptState => ({ lastSeq: undefined, ended: false, started: false, records: 0 });

/** The state carried to the next page's request (`/more?state=`): last seq, ended, started, records. */
export function stateToQuery(st: TranscriptState): string {
  return `${st.lastSeq ?? "-"}.${st.ended ? 1 : 0}.${st.started ? 1 : 0}.${st.records}`;
}

/** A state from the query, or undefined when it is not one stateToQuery wrote (a reader can only mislead their own view). */
export function stateFromQuery(q: string): TranscriptState | undefined {
  const m = /^(-|\d{1,15})\.([01])\.([01])\.(\d{1,15})$/.exec(q);
  if (!m) return undefined;
  return { lastSeq: m[1] === "-" ? undefined : Number(m[1]), ended: m[2] === "1", started: m[3] === "1", records: Number(m[4]) };
}

/** Records that never arrived between two stored ones: a gap in the hook's sequence numbers. */
function Gap(props: { from: number; to: number }) {
  const n = props.to - props.from + 1;
  return <div class="marker gap" role="note">⚠ {n === 1 ? `seq ${props.from} never arrived` : `seqs ${props.from}–${props.to} never arrived`} ({n} record{n === 1 ? "" : "s"} missing)</div>;
}

/** One record as a terminal would have shown it, with what the audit knows around it. */
function Entry(props: { r: StoredRecord }) {
  const r = props.r;
  const id = r.seq !== null ? `seq-${r.seq}` : `id-${r.id}`;
  if (r.kind === "session_start" || r.kind === "session_end") {
    return <div class="marker session" id={id}>{r.kind === "session_start" ? "▶ session start" : "■ session end"} · <Time tsUs={r.tsUs} utcOffset={r.utcOffset} /> · {r.luser}{r.luser !== r.suser && <>→{r.suser}</>} from {r.clientIp || "?"} on {r.terminal || "?"}<Flags flags={r.flags} /></div>;
  }
  if (r.kind === "loss") {
    return <div class={`marker ${r.kind}`} id={id} role="note">⚠ loss: <CommandText text={r.command} raw={!!r.commandRaw} /> · <Time tsUs={r.tsUs} utcOffset={r.utcOffset} /><Flags flags={r.flags} /></div>;
  }
  return (
    <div class={`entry${r.flags.length ? " flagged" : ""}`} id={id} tabindex={0}>
      <div class="prompt"><a class="anchor" href={`#${id}`} title="link to this command">#{r.seq ?? r.id}</a> <span class="user">{r.suser}@{r.hostname}</span>:<span class="cwd">{r.cwd ?? "?"}</span>{r.suser === "root" ? "#" : "$"} <span class="cmd"><CommandText text={r.command} raw={!!r.commandRaw} /></span></div>
      <div class="meta">
        <Time tsUs={r.tsUs} utcOffset={r.utcOffset} />
        {r.exitStatus !== null && <span class={r.exitStatus ? "bad-exit" : "ok-exit"}>exit {r.exitStatus}</span>}
        {r.durationMs !== null && <span>{r.durationMs} ms</span>}
        {r.luser !== r.suser && <span>login {r.luser}</span>}
        {r.attestation === "kernel" ? <span class="att" title="the kernel stamped the writer's uid">attested: {r.attestedUser ?? "?"}</span> : <span class="muted">not attested</span>}
        {r.commandRaw && <span class="bad">not UTF-8: � marks each bad byte</span>}
        <Flags flags={r.flags} />
      </div>
    </div>
  );
}

/** A page of a transcript, with the gaps before each record; updates `st`. */
export function TranscriptChunk(props: { rows: StoredRecord[]; st: TranscriptState }) {
  const st = props.st;
  const out = [];
  for (const r of props.rows) {
    if (r.seq !== null) {
      const from = st.lastSeq === undefined ? 1 : st.lastSeq + 1;
      // The hook's first record is seq 1 (session_start); a transcript starting later is missing its head.
      if (r.seq > from) out.push(<Gap from={from} to={r.seq - 1} />);
      if (st.lastSeq === undefined || r.seq > st.lastSeq) st.lastSeq = r.seq;
    }
    if (r.kind === "session_end") st.ended = true;
    if (r.kind === "session_start") st.started = true;
    st.records++;
    out.push(<Entry r={r} />);
  }
  return <>{out}</>;
}

export function TranscriptEnd(props: { st: TranscriptState }) {
  const st = props.st;
  if (st.records === 0) return <><p class="muted">No records of this session.</p><div id="transcript-done" hidden></div></>;
  return <>{!st.ended && <div class="marker noend" role="note">⚠ no session end: the shell was killed, its connection cut, or recording was switched off (later commands may be missing)</div>}<div id="transcript-done" hidden></div></>;
}
