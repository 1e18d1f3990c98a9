/** What the file-following code gets from the run: the log settings it reads, and where it reports. */
import type { ReporterConfig } from "../config.ts";

/** The `log` settings a function reads (a test passes just those). */
export type LogSettings<K extends keyof ReporterConfig["log"]> = { log: Pick<ReporterConfig["log"], K> };

export interface Events {
  /** Something the operator should know (printed to stderr by `run`). */
  warn(msg: string): void;
  /** A loss the server must be told about: becomes a `loss` record with a fixed seq. */
  loss(text: string): void;
}
