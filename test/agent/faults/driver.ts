/**
 * What the fault suite (scenarios.ts) needs from a reporter implementation: one driver per
 * reporter hides its config syntax and how it is run, killed and asked for its status.
 */

/** The settings the scenarios turn; everything else is the driver's test default. */
export interface Knobs {
  /** Server base URL (the real server, a fault proxy in front of it, or a dead port). */
  url: string;
  /** The hook's live log. */
  log: string;
  /** The reporter's state directory. */
  stateDir: string;
  budgetSeconds: number;
  /** Per request. */
  timeoutSeconds: number;
  batchBytes: number;
  /** Left at the reporter's default when unset. */
  rotateBytes?: number;
  rotateGraceSeconds: number;
  /** compiled `run.unfinished_seconds`, sh `UNFINISHED_SECONDS`; written to the config only when set. */
  unfinishedSeconds?: number;
}

export interface RunOptions {
  /**
   * Run with the wall clock shifted by a libfaketime offset (e.g. "-1d"); the monotonic clock
   * is left alone, as when an administrator or NTP steps the clock.
   */
  clockOffset?: string;
}

export interface Ran {
  /** Exit code; 128 + signal when killed. */
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time of the process, spawn to exit. */
  ms: number;
}

export interface Spawned {
  pid: number;
  done: Promise<Ran>;
  /** SIGKILL to the run's whole process group (the reporter and its children, e.g. curl). */
  kill9(): void;
}

export interface Status {
  code: number;
  /** The raw output of the reporter's status command. */
  text: string;
  lastError: string | null;
  /** Epoch milliseconds of the last successful run by the reporter's own clock, or null. */
  lastSuccessMs: number | null;
}

export interface ReporterDriver {
  /** Shown in test names: "compiled", "sh". */
  readonly name: string;
  /** Once per test file, before any scenario (e.g. build the binary). */
  prepare(): Promise<void>;
  /** Write the reporter's config (and anything it needs, e.g. a token file) under `dir`. */
  configure(dir: string, k: Knobs): void;
  /** Start `run` with the config of `dir`, in a process group of its own. */
  spawn(dir: string, opts?: RunOptions): Spawned;
  /** The reporter's status command with the config of `dir`. */
  status(dir: string): Promise<Status>;
  /** The session id of the reporter's own `loss` records (from its state), or null before its first run. */
  reporterId(stateDir: string): string | null;
  /** Everything the reporter has dead-lettered so far, as text (raw lines included), "" when nothing. */
  deadLetters(stateDir: string): string;
}
