/** Built-in rules for tokens with a format of their own: found wherever they are typed. */
import { re } from "../patterns.ts";
import type { RedactRule } from "../rules.ts";

const TOKEN_START = String.raw`(?<![A-Za-z0-9_-])`;
const TOKEN_END = String.raw`(?![A-Za-z0-9_-])`;

export const TOKEN_FORMAT_RULES: RedactRule[] = [
  {
    id: "private-key",
    description: "The body of a PEM private key (-----BEGIN … PRIVATE KEY-----), also with literal \\n line breaks; armor headers (Proc-Type, DEK-Info, Version) stay",
    keywords: ["private key"],
    // One character class for the body, no repeated group: JavaScriptCore's backtracking gives up on a
    // group repeated a million times and reports no match. The body stops at "-", so it cannot run into
    // the next BEGIN line. It must end a line or meet the END line, not stop inside a header (Proc-Type:).
    pattern: /-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:\\n|[ \t\r\n]){0,8}(?:[A-Za-z][A-Za-z-]{0,31}: ?[^\n\\]{0,256}(?:\\n|\r?\n)){0,8}(?:\\n|[ \t\r\n]){0,8}(?<secret>[A-Za-z0-9+/=][A-Za-z0-9+/=\\ \t\r\n]*[A-Za-z0-9+/=](?<!\\[a-z]))(?![A-Za-z0-9+/=:]|-(?!----))/,
  },
  {
    id: "jwt",
    description: "A JSON Web Token (eyJ….eyJ….signature)",
    keywords: ["eyj"],
    pattern: new RegExp(re(TOKEN_START, String.raw`(?<secret>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)`)),
  },
  {
    id: "aws-access-key-id",
    description: "An AWS access key id (AKIA…, ASIA… and the other key prefixes)",
    keywords: ["akia", "asia", "abia", "acca", "a3t"],
    pattern: /(?<![A-Za-z0-9])(?<secret>(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16})(?![A-Za-z0-9])/,
    minEntropy: 3,
  },
  {
    id: "github-token",
    description: "A GitHub token: ghp_, gho_, ghu_, ghs_, ghr_ or a fine-grained github_pat_",
    keywords: ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
    pattern: /(?<![A-Za-z0-9_])(?<secret>gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,247})(?![A-Za-z0-9_])/,
    minEntropy: 3,
  },
  {
    id: "gitlab-token",
    description: "A GitLab token: personal (glpat-), deploy, runner, trigger, feed, OAuth and other gl…- prefixes",
    keywords: ["glpat-", "gldt-", "glrt-", "glptt-", "glft-", "gloas-", "glcbt-", "glimt-", "glsoat-", "glagent-"],
    pattern: new RegExp(re(TOKEN_START, String.raw`(?<secret>gl(?:pat|dt|rt|ptt|ft|oas|cbt|imt|soat|agent)-[A-Za-z0-9_-]{20,255}(?:\.[A-Za-z0-9_-]{2,64}){0,3})`)),
    minEntropy: 3,
  },
  {
    id: "slack-token",
    description: "A Slack token (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxo-, xoxe-, xapp-)",
    keywords: ["xox", "xapp-"],
    pattern: new RegExp(re(TOKEN_START, String.raw`(?<secret>xox[abposre]-[A-Za-z0-9-]{10,250}|xapp-[0-9]-[A-Za-z0-9-]{10,250})`)),
    minEntropy: 3,
  },
  {
    id: "slack-webhook",
    description: "The secret path of a Slack incoming webhook (hooks.slack.com/services/…)",
    keywords: ["hooks.slack.com"],
    pattern: /hooks\.slack\.com\/(?:services|workflows|triggers)\/(?<secret>[A-Za-z0-9_/+-]{16,200})/,
    minEntropy: 3,
  },
  {
    id: "stripe-key",
    description: "A Stripe secret or restricted key (sk_live_, rk_live_, sk_test_, …)",
    keywords: ["sk_live_", "sk_test_", "sk_prod_", "rk_live_", "rk_test_", "rk_prod_"],
    pattern: /(?<![A-Za-z0-9_])(?<secret>[sr]k_(?:live|test|prod)_[A-Za-z0-9]{10,247})(?![A-Za-z0-9])/,
    minEntropy: 3,
  },
  {
    id: "npm-token",
    description: "An npm access token (npm_…)",
    keywords: ["npm_"],
    pattern: /(?<![A-Za-z0-9_])(?<secret>npm_[A-Za-z0-9]{36})(?![A-Za-z0-9_])/,
    minEntropy: 3,
  },
  {
    id: "google-api-key",
    description: "A Google API key (AIza…)",
    keywords: ["aiza"],
    pattern: new RegExp(re(TOKEN_START, String.raw`(?<secret>AIza[0-9A-Za-z_-]{35})`, TOKEN_END)),
    minEntropy: 3,
  },
  {
    id: "anthropic-api-key",
    description: "An Anthropic API key (sk-ant-…)",
    keywords: ["sk-ant-"],
    pattern: new RegExp(re(TOKEN_START, String.raw`(?<secret>sk-ant-[a-z]{3,8}[0-9]{2}-[A-Za-z0-9_-]{40,300})`)),
    minEntropy: 3,
  },
  {
    id: "openai-api-key",
    description: "An OpenAI API key (sk-proj-…, sk-svcacct-…, sk-admin-…, legacy sk-…)",
    keywords: ["sk-"],
    pattern: new RegExp(re(TOKEN_START, String.raw`(?<secret>sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,300}|sk-[A-Za-z0-9]{48})`, TOKEN_END)),
    minEntropy: 3,
  },
  {
    id: "vault-token",
    description: "A HashiCorp Vault token (hvs., hvb., hvr.)",
    keywords: ["hvs.", "hvb.", "hvr."],
    pattern: new RegExp(re(TOKEN_START, String.raw`(?<secret>hv[sbr]\.[A-Za-z0-9_-]{24,512})`)),
    minEntropy: 3,
  },
];
