export { createRedactor, type Redaction, type Redactor } from "./redact.ts";
export { BUILTIN_RULES, type RedactRule } from "./rules.ts";
export { FINGERPRINT_HEX, fingerprint, MARKER_PATTERN, RULE_ID } from "./marker.ts";
export { redactorOptionsSchema, redactRuleSchema, redactSettingsSchema, type RedactorOptions, type RedactRuleConfig } from "./config.ts";
export { safeRegex } from "../safe-regex.ts";
export { entropy, isPlaceholder } from "./placeholders.ts";
