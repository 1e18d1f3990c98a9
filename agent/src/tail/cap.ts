/**
 * The retained backlog stays under `log.max_retained_bytes` (the server may be away for days):
 * the oldest rotated files are dropped whole, and what they held is counted as lost.
 */
import type { State, TrackedFile } from "../state.ts";
import type { Events, LogSettings } from "./context.ts";
import { countRecords } from "./records.ts";
import { unlinkRotated } from "./rotate.ts";

/** Bytes not yet settled, over all files. */
export function backlogBytes(files: readonly TrackedFile[]): number {
  return files.reduce((n, f) => n + Math.max(0, f.size - f.offset), 0);
}

/**
 * Keep the unsent backlog under `max_retained_bytes`: drop the oldest rotated files first, counting
 * exactly what they held (records and bytes). `save` runs before a file is deleted, so a crash never
 * loses the count.
 */
export function enforceCap(cfg: LogSettings<"max_retained_bytes">, state: State, ev: Events, save: () => void): void {
  while (backlogBytes(state.files) > cfg.log.max_retained_bytes) {
    const victim = state.files.find((f) => f.role === "rotated");
    if (!victim) break;
    const bytes = victim.size - victim.offset;
    const records = countRecords(victim.path, victim.offset, victim.size);
    state.counters.droppedRecords += records;
    state.counters.droppedBytes += bytes;
    ev.loss(`cmdaudit reporter: dropped ${records} record(s) (${bytes} bytes) of ${victim.path}: the retained log passed log.max_retained_bytes (${cfg.log.max_retained_bytes}) while the server could not be reached`);
    state.files = state.files.filter((f) => f !== victim);
    save();
    if (victim.ownRotation) {
      try {
        unlinkRotated(victim.path);
      } catch (e) {
        ev.warn(`cannot delete ${victim.path}: ${(e as NodeJS.ErrnoException).code}`);
      }
    }
  }
}
