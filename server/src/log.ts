/**
 * Structured JSON logs on stdout. Callers pass only what is safe to keep:
 * never tokens, never command text, never query strings.
 */
export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  log(level: Level, msg: string, fields?: Record<string, unknown>): void;
}

export function jsonLogger(min: Level, write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  return {
    log(level, msg, fields) {
      if (ORDER[level] < ORDER[min]) return;
      write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + "\n");
    },
  };
}

export const silentLogger: Logger = { log() {} };
