/**
 * At the start of a run, bring the tracked files in line with the disk: files are followed by
 * device + inode, whoever renames or truncates them; a file rewritten in place is read again from 0
 * (its copy, if any, from the checkpoint); what vanished unread is counted as lost.
 */
import { existsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { State, TrackedFile } from "../state.ts";
import type { Events, LogSettings } from "./context.ts";
import { createLiveLog, isOwnRotationName, ownRotatedFiles, sealUnsealed } from "./rotate.ts";
import { copyHolds, findByInode, findCopy, newTracked, rewrittenHolds, rewrittenInPlace, statOrNull, tailFromFile } from "./track.ts";

/**
 * Bring `state.files` in line with the disk: follow renamed files by inode, notice
 * truncation, forget files that vanished (counting what was unread as lost).
 */
export function reconcile(cfg: LogSettings<"path" | "extra_paths">, state: State, ev: Events): void {
  const live = cfg.log.path;
  if (!existsSync(live)) {
    try {
      createLiveLog(live);
      ev.warn(`created the missing log ${live}`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") ev.warn(`cannot create the log ${live}: ${(e as NodeJS.ErrnoException).code}`);
    }
  }
  const next: TrackedFile[] = [];
  /** What was unread at the end of the last run, unless `holds` finds it still there: counted exactly (records and bytes). */
  const lost = (f: TrackedFile, how: "rewritten in place" | "removed", holds: () => boolean) => {
    const u = f.unread;
    if (u === undefined) {
      // A state file from before unread ranges were described: only the bytes are known.
      if (f.size > f.offset) ev.loss(`cmdaudit reporter: ${f.path} was ${how} with at least ${f.size - f.offset} byte(s) not yet sent; those records are lost`);
      return;
    }
    if (u === null || u.size <= u.offset || holds()) return;
    ev.loss(`cmdaudit reporter: ${u.records} record(s) (${u.size - u.offset} bytes) of ${f.path} at offset ${u.offset} were not sent before the file was ${how}${how === "removed" ? "" : " and are not in it any more"}`);
  };

  for (const f of state.files) {
    if (f.role === "extra" && !cfg.log.extra_paths.includes(f.path)) continue; // no longer configured
    const st = statOrNull(f.path);
    if (st && st.dev === f.dev && st.ino === f.ino) {
      if (rewrittenInPlace(f, st)) {
        // Rewritten in place (logrotate copytruncate, `: > log`, bash trimming a HISTFILE, an editor):
        // read it again from 0 (the server stores each record once). The copy, if any, holds the rest.
        const copy = f.role === "live" ? findCopy(state, live, f) : null;
        if (copy) {
          const cst = statSync(copy);
          next.push({ ...f, path: copy, dev: cst.dev, ino: cst.ino, size: cst.size, role: "rotated", ownRotation: false, waiting: undefined });
          ev.warn(`${f.path} was truncated by another program; reading the rest from its copy ${copy}`);
        }
        lost(f, "rewritten in place", () => (!!copy && copyHolds(copy, f.unread!)) || rewrittenHolds(f.path, f.unread!));
        next.push({ ...newTracked(f.path, st, f.role), ownRotation: f.ownRotation });
        continue;
      }
      if (f.tail === undefined) f.tail = tailFromFile(f); // from a state file before `tail`
      next.push({ ...f, size: st.size });
      continue;
    }
    // Renamed away (`mv`, logrotate without copytruncate, our own rotation before a crash) or removed.
    const moved = findByInode(dirname(f.path), f.dev, f.ino);
    if (moved) {
      const mst = statSync(moved);
      next.push({ ...f, path: moved, size: mst.size, role: f.role === "extra" ? "extra" : "rotated", ownRotation: f.ownRotation || isOwnRotationName(live, moved) });
    } else {
      lost(f, "removed", () => false);
    }
  }
  // Files we rotated that the state does not know (it was moved away to start over): older than
  // anything tracked, so read first, in the order they were rotated. Never dropped unread.
  // Not the live log under a second name either (a run that died between the link and the rename).
  const orphans: TrackedFile[] = [];
  const liveNow = statOrNull(live);
  for (const p of ownRotatedFiles(live)) {
    const st = statOrNull(p);
    const known = (f: TrackedFile) => st !== null && f.dev === st.dev && f.ino === st.ino;
    const isLive = !!st && !!liveNow && st.dev === liveNow.dev && st.ino === liveNow.ino;
    if (st?.isFile() && !isLive && !next.some(known) && !orphans.some(known)) orphans.push({ ...newTracked(p, st, "rotated"), ownRotation: true });
  }
  state.files = [...orphans, ...next];

  const liveSt = statOrNull(live);
  if (liveSt && !state.files.some((f) => f.role === "live" && f.dev === liveSt.dev && f.ino === liveSt.ino)) {
    // Any older live entry is a file that was rotated away by someone else.
    for (const f of state.files) if (f.role === "live") f.role = "rotated";
    state.files.push(newTracked(live, liveSt, "live"));
  }
  for (const p of cfg.log.extra_paths) {
    const st = statOrNull(p);
    if (st && st.isFile() && !state.files.some((f) => f.dev === st.dev && f.ino === st.ino)) state.files.push(newTracked(p, st, "extra"));
  }
  // Oldest first: rotated files (in the order they were rotated), then older logs, then the live one.
  const rank = { rotated: 0, extra: 1, live: 2 } as const;
  state.files.sort((a, b) => rank[a.role] - rank[b.role]);
  sealUnsealed(state.files, liveSt, ev);
}
