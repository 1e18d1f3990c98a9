/** Built-in rules for programs that take a secret as an argument or on standard input. */
import { ARGS, PROGRAM, re, VALUE } from "../patterns.ts";
import type { RedactRule } from "../rules.ts";

export const PROGRAM_RULES: RedactRule[] = [
  {
    id: "npmrc-auth",
    description: "npm config credentials: _authToken=, _auth=, _password= (npm config set, .npmrc lines)",
    keywords: ["_auth", "_password"],
    pattern: new RegExp(re(String.raw`(?<![\w-])_(?:authToken|auth|password)[ \t]*=[ \t]*`, VALUE)),
  },
  {
    id: "mysql-password",
    description: "A MySQL/MariaDB client password: -pVALUE or --password=VALUE (a bare -p prompts and is left alone)",
    keywords: ["mysql", "mariadb"],
    pattern: new RegExp(re(PROGRAM, String.raw`(?:mysql|mariadb)[\w-]{0,20}[ \t]`, ARGS, String.raw`(?:-p(?![0-9]{1,5}:[0-9])|--password=)`, VALUE)),
  },
  {
    id: "sshpass",
    description: "sshpass -p VALUE",
    keywords: ["sshpass"],
    pattern: new RegExp(re(PROGRAM, String.raw`sshpass[ \t]`, ARGS, String.raw`-p[ \t]*`, VALUE)),
  },
  {
    id: "redis-cli-password",
    description: "redis-cli -a VALUE / --pass VALUE",
    keywords: ["redis-cli"],
    pattern: new RegExp(re(PROGRAM, String.raw`redis-cli[ \t]`, ARGS, String.raw`(?:-a[ \t]*|--pass[ \t=]+)(?!-)`, VALUE)),
  },
  {
    id: "mongo-password",
    description: "MongoDB shells and tools (mongo, mongosh, mongodump, mongorestore, mongoexport, mongoimport, mongostat, mongotop) -p VALUE / --password VALUE (a bare -p prompts)",
    keywords: ["mongo"],
    pattern: new RegExp(re(PROGRAM, String.raw`mongo(?:sh|dump|restore|export|import|stat|top)?[ \t]`, ARGS, String.raw`(?:-p|--password)(?:[ \t]+|=)(?!-)`, VALUE)),
  },
  {
    id: "sqlcmd-password",
    description: "SQL Server's sqlcmd and bcp -P VALUE (upper case; -p is another option)",
    keywords: ["sqlcmd", "bcp"],
    pattern: new RegExp(re(PROGRAM, String.raw`(?:sqlcmd|bcp)[ \t]`, ARGS, String.raw`-P[ \t]*(?!-)`, VALUE)),
  },
  {
    id: "smb-user-password",
    description: "Samba clients (smbclient, rpcclient, smbcacls, smbget, net) -U/--user user%VALUE (only the password; -U user alone prompts)",
    keywords: ["smb", "rpcclient", "net "],
    pattern: new RegExp(re(
      PROGRAM, String.raw`(?:smbclient|rpcclient|smbcacls|smbget|net)[ \t]`, ARGS, String.raw`(?:-U|--user)(?:[ \t]*|=)`,
      String.raw`(?:"[^"\n%]{0,128}%(?<secret>[^"\n]+)"|'[^'\n%]{0,128}%(?<secret>[^'\n]+)'|[^ \t\n"'%]{0,128}%(?<secret>[^ \t\n\r\f\v"'\x60;&|<>()]+))`,
    )),
  },
  {
    id: "docker-login-password",
    description: "docker/podman/buildah/skopeo/nerdctl/helm registry login -p VALUE / --password VALUE (not --password-stdin)",
    keywords: ["login"],
    pattern: new RegExp(re(PROGRAM, String.raw`(?:docker|podman|buildah|skopeo|nerdctl|helm[ \t]+registry)[ \t]+login[ \t]`, ARGS, String.raw`(?:-p[ \t]*|--password(?:=|[ \t]+))(?!-)`, VALUE)),
  },
  {
    id: "openssl-pass",
    description: "openssl -pass/-passin/-passout/-password pass:VALUE (env:, file: and fd: name no secret)",
    keywords: ["pass:"],
    pattern: /(?<=[ \t])-pass(?:in|out|word)?[ \t]+(?:"pass:(?<secret>[^"]*)"|'pass:(?<secret>[^']*)'|pass:(?<secret>[^ \t\n\r\f\v"'\x60;&|<>()]+))/,
  },
  {
    id: "ldap-bind-password",
    description: "OpenLDAP clients (ldapsearch, ldapmodify, …) -w VALUE (-W prompts)",
    keywords: ["ldap"],
    pattern: new RegExp(re(PROGRAM, String.raw`ldap[a-z]{2,12}[ \t]`, ARGS, String.raw`-w[ \t]*`, VALUE)),
  },
  {
    id: "htpasswd-batch",
    description: "htpasswd -b [file] user VALUE (batch mode takes the password as an argument)",
    keywords: ["htpasswd"],
    // Without -n: file, user, password; with -n: user, password. The lookahead asks for a -b.
    pattern: new RegExp(re(PROGRAM, String.raw`htpasswd(?=(?:[ \t]+-[A-Za-z]+){0,3}[ \t]+-[A-Za-z]*b)(?:(?:[ \t]+-[A-Za-mo-z]+){1,4}[ \t]+[^- \t\n][^ \t\n]*|(?:[ \t]+-[A-Za-z]+){1,4})[ \t]+[^ \t\n]+[ \t]+`, VALUE)),
  },
  {
    id: "curl-user",
    description: "curl -u/--user/--proxy-user user:VALUE (only the password; -u user alone prompts)",
    keywords: ["curl"],
    pattern: new RegExp(re(PROGRAM, String.raw`curl[ \t]`, ARGS, String.raw`(?:-u|-U|--user|--proxy-user)(?:[ \t]*|=)(?:"[^"\n:]{0,128}:(?<secret>[^"\n]+)"|'[^'\n:]{0,128}:(?<secret>[^'\n]+)'|[^ \t\n"':]{0,128}:(?<secret>[^ \t\n\r\f\v"'\x60;&|<>()]+))`)),
  },
  {
    id: "chpasswd-stdin",
    description: "echo 'user:VALUE' | chpasswd, chpasswd <<< 'user:VALUE' (only the password)",
    keywords: ["chpasswd"],
    pattern: new RegExp(re(
      PROGRAM, String.raw`(?:echo|printf)[ \t]+(?:-[neE]{1,3}[ \t]+)?`,
      String.raw`(?:"[^"\n:]{1,64}:(?<secret>[^"]+)"|'[^'\n:]{1,64}:(?<secret>[^']+)'|[^ \t\n"':|]{1,64}:(?<secret>[^ \t\n\r\f\v"'\x60;&|<>()]+))`,
      String.raw`[ \t]*\|[ \t]*(?:sudo[ \t]+(?:-[A-Za-z]+[ \t]+){0,8})?chpasswd`,
      String.raw`|chpasswd[ \t]*<<<[ \t]*(?:"[^"\n:]{1,64}:(?<secret>[^"]+)"|'[^'\n:]{1,64}:(?<secret>[^']+)'|[^ \t\n"':]{1,64}:(?<secret>[^ \t\n\r\f\v"'\x60;&|<>()]+))`,
    )),
  },
  {
    id: "stdin-password",
    description: "echo VALUE piped into passwd, sudo -S or a --password-stdin login",
    // Every match begins with echo or printf: rarer words than sudo, which most admin commands hold.
    keywords: ["echo", "printf"],
    pattern: new RegExp(re(
      PROGRAM, String.raw`(?:echo|printf)[ \t]+(?:-[neE]{1,3}[ \t]+)?`, VALUE,
      String.raw`[ \t]*\|[ \t]*(?:sudo[ \t]+(?:-[A-Za-z]+[ \t]+){0,8})?(?:passwd(?![\w-])|sudo(?:[ \t]+-[A-Za-z]+){0,8}?[ \t]+-[A-Za-z]*S|[^|;&\n]{0,256}?--password-stdin)`,
    )),
  },
];
