/** Built-in rules for the places a secret is typed whatever the program: URLs, headers, options, assignments, query strings. */
import { ARGS, AUTH_SCHEME, LIST_VALUE, notSecretName, PROGRAM, re, SECRET_NAME, VALUE } from "../patterns.ts";
import type { RedactRule } from "../rules.ts";

export const PLACE_RULES: RedactRule[] = [
  {
    id: "url-credentials",
    description: "The password in scheme://user:VALUE@host (git, database, redis, proxy URLs)",
    keywords: ["://"],
    // The password may hold "@": it runs to the last "@" before the host.
    pattern: /:\/\/[^ \t\n\r\f\v:/@'"?#]{0,128}:(?<secret>[^ \t\n\r\f\v'"/?#]+)@(?=[^ \t\n\r\f\v'"/?#@:])/,
  },
  {
    id: "http-auth-header",
    description: "HTTP credentials headers: Authorization/Proxy-Authorization (Bearer, Basic, Token, …), X-Api-Key, Private-Token, X-Vault-Token, …",
    keywords: ["authorization", "api-key", "apikey", "api-token", "auth-token", "access-token", "private-token", "vault-token", "gitlab-token", "subscription-key"],
    // A header name starts a word (not x-access-token:… in a URL); a scheme alone is no credential (grep "Authorization: Bearer").
    pattern: new RegExp(re(
      String.raw`(?<=^|[ \t\n"'=])(?:(?:proxy-)?authorization[ \t]*:[ \t]*(?:${AUTH_SCHEME}[ \t]+)?|(?:x-)?(?:[a-z]+-)?(?:api-?key|api-token|auth-token|access-token|private-token|vault-token|gitlab-token|subscription-key)[ \t]*:[ \t]*)`,
      String.raw`(?!${AUTH_SCHEME}(?![^ \t\n\r\f\v"'\x60;]))(?<secret>[^ \t\n\r\f\v"'\x60;]+)`,
    ), "i"),
  },
  {
    id: "http-cookie",
    description: "Cookies sent with curl: the whole value of -H 'Cookie: …', and curl -b/--cookie 'name=value' (a -b without = names a file)",
    keywords: ["cookie", "curl"],
    pattern: new RegExp(re(
      String.raw`(?<=[ \t])(?:-H|--header)[ \t]*(?:"(?i:cookie)[ \t]*:[ \t]*(?<secret>[^"\n]+)"|'(?i:cookie)[ \t]*:[ \t]*(?<secret>[^'\n]+)')`,
      String.raw`|`, PROGRAM, String.raw`curl[ \t]`, ARGS,
      String.raw`(?:-b|--cookie)[ \t]*(?:"(?<secret>[^"=\n]{1,256}=[^"\n]*)"|'(?<secret>[^'=\n]{1,256}=[^'\n]*)'|(?<secret>[^ \t\n"'=;&|<>()]{1,256}=[^ \t\n\r\f\v"'\x60&|<>()]*))`,
    )),
  },
  {
    id: "java-property-secret",
    description: "A JVM system property whose name holds a secret word: -Dspring.datasource.password=VALUE",
    keywords: ["password", "passwd", "secret", "token", "key", "credential"],
    pattern: new RegExp(re(String.raw`(?<=[ \t"'])-D(?i:[\w.-]{0,64}?(?:password|passwd|secret|token|api[_.-]?key|credentials?)[\w.-]{0,32})=(?i:`, notSecretName("="), ")", VALUE)),
  },
  {
    id: "cli-secret-flag",
    description: "A long option that takes a secret: --password, --passwd, --pass, --token, --api-key, --secret, --client-secret, --http-password (wget), … with = or a space",
    keywords: ["pass", "token", "secret", "key", "credential"],
    // Not --no-password, --ask-pass; not in a mysql command (mysql-password's), where --password VALUE prompts and VALUE is the database.
    pattern: new RegExp(re(
      String.raw`(?<=[ \t"'])--(?!no-|ask-|with-)(?:[a-z0-9]+-){0,3}`,
      String.raw`(?:password|passwd|passphrase|pass|token|api-?key|secret|secret-key|access-key|private-key|client-secret|credentials?)(?:=|[ \t]+)`,
      String.raw`(?<!(?<![\w.-])(?:mysql|mariadb)[\w-]{0,20}[ \t][^\n&|;]{0,600})(?!-|id=|src=|type=|source=|env=)`,
      VALUE,
    )),
  },
  {
    id: "json-secret",
    description: "A JSON string member whose name holds a secret word: curl -d '{\"password\":\"VALUE\"}', also with the quotes escaped for the shell",
    keywords: ["pass", "secret", "token", "key", "credential", "pwd"],
    pattern: new RegExp(re(
      // The name is read first and checked by looking back from the colon: one check per member, not per length tried.
      String.raw`\\?"[A-Za-z_][\w.-]{0,63}\\?"[ \t]*:(?<=`, SECRET_NAME, String.raw`[\w.-]{0,63}\\?"[ \t]*:)`, notSecretName(String.raw`\\?"[ \t]*:`),
      String.raw`[ \t]*\\?"(?<secret>[^"\\\n]+)\\?"`,
    ), "i"),
  },
  {
    id: "env-secret",
    description: "An assignment to a name that holds PASSWORD, PASSWD, PASS, PWD, SECRET, TOKEN, API_KEY, ACCESS_KEY, PRIVATE_KEY, CREDENTIAL… (export, env, declare, VAR=… cmd, --from-literal=, --set, -o a=b,c=d); not …_FILE, …_PATH, …_NAME and other names of places and properties",
    keywords: ["pass", "secret", "token", "key", "credential", "pwd"],
    // Names start after a character that cannot be in one; ? and & start query parameters (query-* rules).
    // The name is checked by looking back from "=": once per assignment, not once per length tried.
    pattern: new RegExp(re(String.raw`(?<![\w.\-?&$])[A-Za-z_][\w.-]{0,63}=(?<=`, SECRET_NAME, String.raw`[\w.-]{0,63}=)`, notSecretName("="), LIST_VALUE), "i"),
  },
  {
    id: "query-password",
    description: "A password in a query string or form body: ?password=, &passwd=, &pwd=, &pass=, &secret=, &client_secret=",
    keywords: ["password=", "passwd=", "pwd=", "pass=", "secret="],
    pattern: /(?<=[?&])(?:password|passwd|pwd|pass|secret|client_secret)=(?<secret>[^& \t\n\r\f\v'"#;|<>\x60]+)/i,
  },
  {
    id: "query-token",
    description: "A token, key or signature in a query string (?access_token=, &api_key=, &token=, &sig=, X-Amz-Signature=, …) that looks random",
    keywords: ["token=", "key=", "sig=", "signature="],
    pattern: /(?<=[?&])(?:access_token|refresh_token|id_token|auth_token|token|api_key|apikey|api-key|key|secret_key|sig|signature|x-amz-signature|x-amz-security-token)=(?<secret>[^& \t\n\r\f\v'"#;|<>\x60]+)/i,
    minEntropy: 3,
  },
];
