/**
 * The redaction corpus: for every built-in rule, commands it must redact (hits) and commands that
 * must come out unchanged (misses). In a hit, each secret is written «value» (replaced under the
 * group's rule) or «rule-id|value» (under another rule); the expected output is the command with each
 * «…» replaced by that rule's marker. A miss is expected back byte for byte.
 *
 * Every token below is random text of the right shape, not a credential.
 *
 * Decisions the misses record:
 *  - `export PASSWORD_FILE=/etc/x` is not redacted: names ending in _FILE, _PATH, _DIR, _URL, _NAME,
 *    _TTL… say where a secret is or what it is like (GOOGLE_APPLICATION_CREDENTIALS too: a path).
 *  - `mysql --password mydb` is not redacted: mysql prompts and mydb is the database.
 *  - placeholders ($VAR, ${VAR}, $(…), <pass>, changeme, password, pass, xxx…, ***, ${{ … }}, {{ … }}, %s)
 *    and low-entropy dummies of token formats (ghp_xxxx…, AKIAXXXX…) are left as typed.
 */

export interface RuleCorpus {
  hits: string[];
  misses: string[];
}

/** Commands no rule should touch, whatever rule they resemble. */
export const EVERYDAY = "everyday";

const PEM_BODY = "MIIEowIBAAKCAQEA7x9Qm2Lr8ZkP0aVbT3nW5yHc1JdE6fGuIoKpLsMqNrTwXz";

export const CORPUS: Record<string, RuleCorpus> = {
  "private-key": {
    hits: [
      `echo "-----BEGIN RSA PRIVATE KEY-----\\n«${PEM_BODY}\\nAbC9dEf0GhIj1KlMn2OpQr==»\\n-----END RSA PRIVATE KEY-----" > ~/.ssh/id_rsa`,
      `cat > key.pem <<'EOF'\n-----BEGIN PRIVATE KEY-----\n«MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7»\n-----END PRIVATE KEY-----\nEOF`,
      `printf '%s\\n' '-----BEGIN OPENSSH PRIVATE KEY-----\\n«b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW»\\n-----END OPENSSH PRIVATE KEY-----' > k`,
      `echo '-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F2A9C1B\n\n«MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oKQFiP5yRL6s»\n-----END EC PRIVATE KEY-----' | ssh-add -`,
      `gpg --import <<'EOF'\n-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\nComment: ops key\n\n«lQOYBGVx2zABCADK3Jf9sQm1+P0wT5u7Yv\n=tQ2x»\n-----END PGP PRIVATE KEY BLOCK-----\nEOF`,
      `gpg --import <<< "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n«lQOYBGVx2zABCADK3Jf9sQm1+P0wT5u7Yv==»\n-----END PGP PRIVATE KEY BLOCK-----"`,
    ],
    misses: [
      "ssh-keygen -t ed25519 -f ~/.ssh/id_ed25519 -C ops@example.com",
      "openssl genrsa -out key.pem 4096",
      `grep -rl "BEGIN RSA PRIVATE KEY" /etc`,
      "grep -- '-----BEGIN OPENSSH PRIVATE KEY-----' ~/.ssh/id_ed25519",
      `echo "-----BEGIN PUBLIC KEY-----\\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\\n-----END PUBLIC KEY-----"`,
      "head -1 key.pem # -----BEGIN PRIVATE KEY-----",
    ],
  },
  jwt: {
    hits: [
      `curl -H "Authorization: Bearer «eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c»" https://api.example.com/v1/me`,
      "export ID_TOKEN=«eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcCJ9.c2lnbmF0dXJlLWJ5dGVzLWhlcmU»",
      "kubectl --token=«eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.eyJzdWIiOiJzeXN0ZW06c2EifQ.Zm9vYmFyYmF6cXV4» get pods",
      "jwt decode «eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.»",
    ],
    misses: [
      "echo eyJhbGciOiJIUzI1NiJ9 | base64 -d",
      "grep -c eyJ /var/log/nginx/access.log",
      "jq -r '.access_token' resp.json | cut -d. -f2 | base64 -d",
      `echo "eyJzdWIiOiJ4In0" | base64 --decode`,
    ],
  },
  "aws-access-key-id": {
    hits: [
      "export AWS_ACCESS_KEY_ID=«AKIA7NYRVD5RXI67NFRP»",
      "aws configure set aws_access_key_id «AKIA7NYRVD5RXI67NFRP»",
      "AWS_ACCESS_KEY_ID=«ASIAYZ21TBIC145AEZ73» AWS_SECRET_ACCESS_KEY=«env-secret|5FnCttn6kfaqDeMqG3omjMyXHCabM6JOF8EFd0Nh» aws s3 ls",
    ],
    misses: [
      "gcloud config set compute/region asia-east1",
      "echo AKIAXXXXXXXXXXXXXXXX",
      "aws iam list-access-keys --user-name bob",
      "aws s3 ls s3://backups/asia/2024/",
    ],
  },
  "github-token": {
    hits: [
      "git clone https://x-access-token:«ghs_IBXuDL7DxtpYlSXpfKtHF4vUCsMehGAkWvj7»@github.com/acme/api.git",
      "export GITHUB_TOKEN=«ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d»",
      "gh auth login --with-token <<< «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»",
      `curl -H "Authorization: token «gho_KLzdocJ2isAjIhKtJ0RlgLKOmxgJTeKdNnFR»" https://api.github.com/user`,
    ],
    misses: [
      "git push https://github.com/acme/api.git main",
      "echo ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
      "grep -rn ghp_ .",
      "gh auth status",
    ],
  },
  "gitlab-token": {
    hits: [
      "git clone https://oauth2:«glpat-1TWDtkwtDDb_xHKas1VO»@gitlab.example.com/group/app.git",
      `curl --header "PRIVATE-TOKEN: «glpat-1TWDtkwtDDb_xHKas1VO»" https://gitlab.example.com/api/v4/projects`,
      "gitlab-runner register --url https://gitlab.example.com --token «glrt-8iS2G8NPRVdD53X83RZJ»",
    ],
    misses: [
      "echo glpat-xxxxxxxxxxxxxxxxxxxx",
      "glab auth login --stdin < token.txt",
      "grep glpat- .env.example",
    ],
  },
  "slack-token": {
    hits: [
      `curl -H "Authorization: Bearer «xoxb-66661760313-721590109281-8xNbe3nNyjOq9wMxEhh2FDEE»" https://slack.com/api/chat.postMessage`,
      "export SLACK_BOT_TOKEN=«xoxb-66661760313-721590109281-8xNbe3nNyjOq9wMxEhh2FDEE»",
      "SLACK_APP_TOKEN=«xapp-1-ATFJGVQ4K7B-3852808414852-b7a767c76fb008f86bebb2737f6a6f0fb23c6f5da2cec255404e4fb440034d66» node bot.js",
    ],
    misses: [
      "grep -r xoxb- src/",
      "echo 'bot tokens start with xoxb-'",
      "echo xoxb-xxxxxxxxxxx-xxxxxxxxxxxx",
    ],
  },
  "slack-webhook": {
    hits: [
      `curl -X POST -d '{"text":"deploy done"}' https://hooks.slack.com/services/«TBQNS6PUQ/B80IDW3706I/IjHGb3CXlMaXZjljENUhJduR»`,
    ],
    misses: [
      "curl -X POST https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
      "ping -c1 hooks.slack.com",
    ],
  },
  "stripe-key": {
    hits: [
      "curl https://api.stripe.com/v1/charges -u «sk_live_HHJEYXg4JdpmrcXgGCJbW56e»:",
      "export STRIPE_SECRET_KEY=«sk_test_CuNGMGmSrCGIZEG8pSH4487q»",
      "stripe login --api-key «rk_live_7J58m1CiAhzCueQpBenQtYh5»",
    ],
    misses: [
      "stripe listen --forward-to localhost:3000/webhooks",
      "echo pk_live_51HxYzAbCdEfGhIjKlMnOp",
      "echo sk_live_xxxxxxxxxxxxxxxxxxxxxxxx",
    ],
  },
  "npm-token": {
    hits: [
      "npm config set //registry.npmjs.org/:_authToken=«npm_Xj8TPQxjq4i9DoV8gz4FkQ1okTBGzvAmwufU»",
      "NPM_TOKEN=«npm_xbvJDCTbyvHNsG9eh6Yo4gfqrc5XlrWi0B26» npm publish --access public",
    ],
    misses: [
      "echo $npm_config_cache",
      "npm whoami --registry https://registry.npmjs.org/",
      "node -e 'console.log(process.env.npm_package_version)'",
    ],
  },
  "google-api-key": {
    hits: [
      `curl "https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key=«AIzaHZt-PlJhx2jIclHkCiHp6bR1IqfEouHgxzN»"`,
    ],
    misses: ["gcloud auth list", "echo AIzaXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"],
  },
  "anthropic-api-key": {
    hits: [
      "export ANTHROPIC_API_KEY=«sk-ant-api03-NAL5wIScGebcy8F5n3-YNBDRzrZSgqbjG3uhkWKFLf6xuI5aHUQPFeNBTxaQWk8JzFalHlsZfYcMMDktXP-tKsf2rcDkdAA»",
    ],
    misses: ["echo 'keys look like sk-ant-…'"],
  },
  "openai-api-key": {
    hits: [
      "export OPENAI_API_KEY=«sk-proj-frUnW5gcF_Ha6ili8GjHEAD6-Wj9KfzjsQGMrb9h_ImB_LK7»",
      `curl https://api.openai.com/v1/models -H "Authorization: Bearer «sk-DDXh5Jmtf7EbsDe0G9Cryn687neLfjVHq8xiM0OGr4hTxoF5»"`,
    ],
    misses: ["git checkout task-1234", "apt install gnome-disk-utility", "pip install scikit-learn"],
  },
  "vault-token": {
    hits: [
      "vault login «hvs.4Fzbka8FRCztUjAwyuh1vauW»",
      "VAULT_TOKEN=«hvs.CAESIRYpzbLGViYXjU2JgJngKtFI3OyV2dZAkg05rK_gqv81RKMGHZEM9YpvujA-C5Q52ryFlwRlOEVHzc0X0» vault kv get secret/db",
    ],
    misses: ["vault login -method=userpass username=bob", "vault token lookup"],
  },
  "npmrc-auth": {
    hits: [
      `echo "//registry.example.com/:_authToken=«s3cr3tT0k3nV4lue»" >> ~/.npmrc`,
      "echo '_auth=«dXNlcjpzM2NyM3Q=»' >> .npmrc",
      "npm config set //npm.pkg.example.com/:_password=«c2VjcmV0cHc=»",
    ],
    misses: [
      "npm config get _authToken",
      `echo "//registry.npmjs.org/:_authToken=\${NPM_TOKEN}" > .npmrc`,
      "npm config delete //registry.npmjs.org/:_authToken",
    ],
  },
  "mysql-password": {
    hits: [
      "mysql -uroot -p«S3cret» mydb",
      "mysqldump -u backup -p'«p@ss w0rd»' --all-databases > all.sql",
      `mariadb -h db1 -u app -p"«Xy7#kq»" -e 'select 1'`,
      "mysql --user=root --password=«Hunter2!» -h 10.0.0.5",
      "/usr/bin/mysqladmin -uroot -p«rootpw» status",
      "sudo mysql -h 127.0.0.1 -P 3307 -u admin -p«4dm1n,pw» < dump.sql",
    ],
    misses: [
      "mysql -u root -p",
      "mysql -u root -p mydb",
      "mysql -p",
      "mysql --password -u root",
      "mysql --password mydb",
      `mysql -uroot -p"$MYSQL_ROOT_PASSWORD"`,
      "docker run -d --name mysql -p3306:3306 mysql:8",
      "mysql -P 3307 -h db -u app",
      "systemctl restart mysql && tar -pcf etc.tar /etc",
    ],
  },
  sshpass: {
    hits: [
      "sshpass -p '«Winter2024!»' ssh admin@10.0.0.1",
      "sshpass -p«hunter22» scp backup.tgz h:/tmp",
      "sshpass -v -p «S3cr3t» rsync -a ./dist deploy@web1:/srv",
    ],
    misses: ["sshpass -f ~/.pw ssh h", "sshpass -e ssh h uptime", `sshpass -p "$SSH_PW" ssh h`],
  },
  "redis-cli-password": {
    hits: [
      "redis-cli -h cache -a «R3dis!» ping",
      "redis-cli --pass «x9y8z7» info replication",
      `redis-cli -a "«p w»" --no-auth-warning get k`,
    ],
    misses: ["redis-cli -h cache ping", "redis-cli --askpass", "redis-cli -a $REDIS_PASSWORD ping", "redis-cli -p 6380 info"],
  },
  "mongo-password": {
    hits: [
      "mongosh -u admin -p «S3cretMg» --authenticationDatabase admin",
      "mongo --host db1 --password=«Pa55w0rd» -u root",
      "mongodump --uri mongodb://db1 -u backup --password '«b4ck up»' -o /data/dump",
      // Also a --password flag (cli-secret-flag): the program's own rule names it.
      "mongosh --username admin --password «M0ngo» --authenticationDatabase admin",
    ],
    misses: ["mongosh -u admin -p --authenticationDatabase admin", "mongo --port 27017 app", "mongosh -p $MONGO_PASSWORD", "mongorestore --drop /data/dump"],
  },
  "sqlcmd-password": {
    hits: [
      "sqlcmd -S db -U sa -P «S3cret»",
      `sqlcmd -S tcp:db,1433 -U app -P"«p@ss w0rd»" -Q "select 1"`,
      "bcp dbo.orders out orders.dat -S db -U sa -P«Xy12zz» -c",
    ],
    misses: ["sqlcmd -S db -E -Q 'select 1'", "sqlcmd -S db -U sa -p", "sqlcmd -S db -U sa -P $SQLCMDPASSWORD"],
  },
  "smb-user-password": {
    hits: [
      "smbclient //fs/share -U bob%«S3cret»",
      "smbclient -L fs --user='CORP\\bob%«Pa55 w0rd»'",
      "net rpc user -U admin%«Adm1nPw» -S dc1",
      "rpcclient -U \"alice%«x9y8z7»\" dc1",
    ],
    misses: ["smbclient //fs/share -U bob", "smbclient //fs/share -U bob%$SMB_PASS", "net stop w32time", "echo 100%done | smbclient //fs/x -N"],
  },
  "docker-login-password": {
    hits: [
      "docker login -u bob -p «S3cretPw» registry.example.com",
      "podman login --password «Pa55w0rd» -u x quay.io",
      "docker login --password=«Tok3nVal» reg.example.com",
      "helm registry login reg.example.com -u x -p «pw1234»",
    ],
    misses: [
      "echo $CR_PAT | docker login ghcr.io -u x --password-stdin",
      "docker login",
      "docker login -u bob registry.example.com",
      "docker run -p 8080:80 nginx",
    ],
  },
  "openssl-pass": {
    hits: [
      "openssl enc -aes-256-cbc -pass pass:«hunter2» -in a -out b",
      "openssl pkcs12 -export -in c.pem -out c.p12 -passout 'pass:«Ex p0rt»'",
      "openssl rsa -in k.pem -passin pass:«k3ypass» -out plain.pem",
    ],
    misses: [
      "openssl rsa -in k.pem -passin env:KEY_PASS -out plain.pem",
      "openssl rsa -in k.pem -passin file:/run/secrets/pw",
      "openssl passwd -6",
      "openssl req -new -nodes -key k.pem -out k.csr",
    ],
  },
  "ldap-bind-password": {
    hits: [
      `ldapsearch -x -D "cn=admin,dc=example,dc=com" -w «adm1nPw» -b dc=example,dc=com`,
      "ldapmodify -x -D cn=admin -w'«x y»' -f change.ldif",
    ],
    misses: ["ldapsearch -x -W -D cn=admin -b dc=example,dc=com", "ldapwhoami -x -H ldap://h -D cn=admin -y /root/pw"],
  },
  "htpasswd-batch": {
    hits: [
      "htpasswd -b /etc/nginx/.htpasswd admin «Adm1nPw»",
      "htpasswd -cb .htpasswd bob «b0bpw»",
      "htpasswd -nb bob «b0bpw2»",
      "htpasswd -B -b f u «bcryptme»",
    ],
    misses: ["htpasswd -c /etc/nginx/.htpasswd admin", "htpasswd -D .htpasswd bob", "htpasswd -v .htpasswd bob"],
  },
  "curl-user": {
    hits: [
      "curl -u admin:«S3cret!» https://jenkins.example.com/api/json",
      "curl --user 'deploy:«p@ss word»' https://nexus.example.com/repository/",
      "curl -uadmin:«x1y2z3» http://10.0.0.7:9200/_cat/indices",
      "curl -x proxy:3128 -U pu:«proxyPw» https://example.com",
    ],
    misses: [
      "curl -u admin https://jenkins.example.com/api/json",
      `curl -u "$USER:$PASS" https://x.example.com`,
      "curl -u admin: https://x.example.com",
      "curl -u user:pass https://x.example.com",
      "docker run -u 1000:1000 alpine id",
      `curl --user-agent "Mozilla/5.0 (X11; Linux x86_64)" https://example.com`,
    ],
  },
  "url-credentials": {
    hits: [
      "git clone https://bob:«Gh0stPw»@git.example.com/x.git",
      `psql "postgresql://app:«s3cr3t»@db:5432/app"`,
      "redis-cli -u redis://:«R3dPw»@cache:6379 ping",
      `mongosh "mongodb+srv://admin:«p@ss»@cluster0.example.net/db"`,
      "export DATABASE_URL=mysql://u:«pw1»@h/db",
    ],
    misses: [
      "git push https://github.com/x/y",
      "git clone ssh://git@github.com:22/x/y.git",
      "curl http://localhost:8080/health",
      "git clone https://oauth2:${CI_JOB_TOKEN}@gitlab.com/g/p.git",
      "curl https://user@example.com/",
      "curl -g http://[::1]:8080/",
    ],
  },
  "http-auth-header": {
    hits: [
      "curl -H 'Authorization: Basic «dXNlcjpzM2NyM3Q=»' https://x.example.com",
      `curl -H "X-Api-Key: «k3yV4lue»" https://x.example.com`,
      `curl --header "PRIVATE-TOKEN: «tok3nValue»" https://gitlab.example.com/api/v4/user`,
      "http GET api.example.com/x 'Authorization:Bearer «opaque.Tok-123»'",
      "curl -H 'X-Vault-Token: «s.abc123XYZ»' https://vault:8200/v1/secret/x",
    ],
    misses: [
      `curl -H "Authorization: Bearer $TOKEN" https://x.example.com`,
      `grep -i "authorization: bearer" access.log`,
      "curl -H 'Content-Type: application/json' https://x.example.com",
      `curl -H "Authorization: Bearer \${{ secrets.API_TOKEN }}" https://x.example.com`,
    ],
  },
  "http-cookie": {
    hits: [
      "curl -H 'Cookie: «session=9f8e7d6c5b4a; csrftoken=abc123»' https://x.example.com",
      `curl -b "«sessionid=q1w2e3r4t5»" https://x.example.com`,
      "curl --cookie «JSESSIONID=ABCDEF123456» https://x.example.com",
    ],
    misses: [
      "curl -b cookies.txt https://x.example.com",
      "curl -c jar.txt -b jar.txt https://x.example.com",
      "grep -i cookie /etc/nginx/nginx.conf",
      "tar -b 20 -cf backup.tar /srv",
    ],
  },
  "java-property-secret": {
    hits: [
      "java -Dspring.datasource.password=«S3cret» -jar app.jar",
      "mvn deploy -Drepo.token=«t0k3nV4l»",
      `java -Djavax.net.ssl.keyStorePassword="«k3ystorePw»" -jar x.jar`,
    ],
    misses: ["java -Dfile.encoding=UTF-8 -jar app.jar", "mvn -Dmaven.test.skip=true package", "java -Dpassword.file=/etc/pw -jar x.jar"],
  },
  "cli-secret-flag": {
    hits: [
      "kubectl --token=«abc123def456» get pods",
      "wget --user=bob --password=«S3cret» ftp://files.example.com/x.iso",
      "wget --http-password=«h77pPw» https://x.example.com/file",
      "az login -u ops@example.com --password «AzPw!2024»",
      "./deploy.sh --api-key «k3yV4l»",
      "kubeadm join 10.0.0.1:6443 --token «abcdef.0123456789abcdef» --discovery-token-ca-cert-hash sha256:0f1e2d3c",
      "terraform apply --client-secret=«cl13nt»",
    ],
    misses: [
      "docker login -u x --password-stdin",
      "ansible-playbook site.yml --ask-pass",
      "psql --no-password -h db",
      "kubectl create token deploy-bot",
      "docker build --secret id=npm,src=$HOME/.npmrc .",
      "kubeadm token create --print-join-command",
      "gitlab-runner run --token-file /etc/runner-token",
      "deploy --token $DEPLOY_TOKEN",
    ],
  },
  "json-secret": {
    hits: [
      `curl -X POST -H 'Content-Type: application/json' -d '{"username":"bob","password":"«S3cret»"}' https://x.example.com/login`,
      `curl -d "{\\"api_key\\": \\"«k3yV4l»\\"}" https://x.example.com`,
      `aws secretsmanager put-secret-value --secret-id prod/db --secret-string '{"db_password":"«pgPw»"}'`,
    ],
    misses: [
      `curl -d '{"password":""}' https://x.example.com`,
      "jq '.password' creds.json",
      `curl -d '{"password_policy":"strict"}' https://x.example.com`,
      `curl -d '{"password":"$PW"}' https://x.example.com`,
    ],
  },
  "env-secret": {
    hits: [
      "export AWS_SECRET_ACCESS_KEY=«5FnCttn6kfaqDeMqG3omjMyXHCabM6JOF8EFd0Nh»",
      "PASSWORD=«hunter2» ./run",
      "export DB_PASS='«p a s s»'",
      "MYSQL_PWD=«m7sqlPw» mysql -u root",
      "env API_KEY=«k-1234» ./x",
      `declare -x CI_DEPLOY_TOKEN="«d3pl0y»"`,
      "kubectl create secret generic db --from-literal=password=«S3cret»",
      "mount -t cifs //h/s /mnt -o username=bob,password=«S3cret»,uid=0",
      "helm upgrade app ./chart --set auth.rootPassword=«R00tPw»",
      "SSHPASS=«sshp4ss» sshpass -e ssh h",
      "ansible-playbook -e ansible_become_pass=«b3come» site.yml",
      "PGPASSWORD=«pgPw» psql -h db -U app",
      "curl -d 'user=bob' -d 'password=«pw4form»' https://x.example.com/login",
      "export TF_VAR_client_secret=«tfS3cret»",
    ],
    misses: [
      "export PASSWORD_FILE=/etc/x",
      "echo $TOKEN",
      "PASSWORD=$DB_PASSWORD ./run",
      "export GOOGLE_APPLICATION_CREDENTIALS=/etc/gcp.json",
      "export TOKEN_TTL=3600",
      "BYPASS_CACHE=1 make",
      "PASSENGER_ENV=production bundle exec rake",
      "export GIT_ASKPASS=/usr/bin/ksshaskpass",
      "grep -r password .",
      "grep 'password=' app.log",
      "PASSWORD=changeme ./setup",
      `export API_KEY="<your key>"`,
      "export SECRET_NAME=prod-db",
      `cd "$OLDPWD"`,
      "TOKEN= ./run",
      "export PASSWORD",
      "export AWS_SECRET_ACCESS_KEY=${{ secrets.AWS_KEY }}",
      "TOKEN=$(vault read -field=token auth/x)",
      "PASSWORD=*** ./run",
      "export API_TOKEN={{ api_token }}",
      "ssh -o PasswordAuthentication=no -o PubkeyAuthentication=yes bastion",
      "helm install db ./chart --set auth.existingSecret=db-creds --set auth.secretName=db",
      "kubectl create deploy x --image=x -- --password-file=/run/secrets/pw",
    ],
  },
  "query-password": {
    hits: [
      "curl 'https://x.example.com/login?user=bob&password=«pw123»'",
      "curl -d 'user=bob&passwd=«qwerty»' https://x.example.com",
      `wget "https://x.example.com/api?client_id=a&client_secret=«cs123»"`,
    ],
    misses: [
      "curl 'https://x.example.com/reset?password='",
      `curl "https://x.example.com/?password=$PW"`,
      "curl 'https://x.example.com/?pass=pass'",
    ],
  },
  "query-token": {
    hits: [
      `curl "https://api.example.com/v1/items?access_token=«9f8aZ3kQ1xLm7PqR»"`,
      "wget 'https://b.blob.core.windows.net/c/f?sv=2022-11-02&se=2025-01-01&sr=b&sp=r&sig=«Xk3%2Fq9Lm0pQrT7%3D»'",
      `curl "https://x.example.com/hook?token=«a8F3kL9qZ2»"`,
    ],
    misses: [
      "curl 'https://x.example.com/?token=abc'",
      `curl "https://x.example.com/?key=value"`,
      "curl 'https://x.example.com/?api_key=$KEY'",
    ],
  },
  "chpasswd-stdin": {
    hits: [
      "echo 'root:«Tr0ub4dor»' | chpasswd",
      `echo "deploy:«N3w pass»" | sudo chpasswd`,
      "chpasswd <<< 'bob:«B0bpw»'",
      "echo bob:«b0b2pw» | chpasswd",
    ],
    misses: ["chpasswd < users.txt", `echo "root:$ROOT_PW" | chpasswd`],
  },
  "stdin-password": {
    hits: [
      "echo «S3cret» | passwd --stdin bob",
      `echo -e "«n3w\\nn3w»" | passwd bob`,
      "echo '«sud0pw»' | sudo -S apt update",
      "echo «R3gPw» | docker login -u bob --password-stdin reg.example.com",
      "printf '«Pw1\\nPw1\\n»' | passwd",
    ],
    misses: [
      "echo 3 | sudo tee /proc/sys/vm/drop_caches",
      `echo "$PASS" | sudo -S true`,
      "cat pw.txt | docker login --password-stdin",
      "echo root | grep passwd /etc/group",
      "printf '%s\\n' \"$PW\" | passwd --stdin bob",
    ],
  },
  [EVERYDAY]: {
    hits: [],
    misses: [
      "ls -la /var/log",
      "ssh-keygen -t ed25519",
      "git log --oneline -n 20",
      "echo aGVsbG8gd29ybGQ= | base64 -d",
      "sha256sum release.tar.gz",
      "docker pull nginx@sha256:4c0fdaa8b6341bfdeca5f18f7837462c80cff90527ee35ef185571e1c327beac",
      "git checkout 3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",
      "kubectl -n prod get secret db-credentials -o yaml",
      "vim /etc/ssh/sshd_config",
      "journalctl -u sshd | grep 'Failed password'",
      "passwd bob",
      "sudo -i",
      "cat /etc/passwd | cut -d: -f1",
      "history | grep token",
      "openssl x509 -in cert.pem -noout -dates",
      "echo 'héllo wörld' | iconv -f utf-8 -t latin1",
    ],
  },
};

/**
 * What the rules get wrong today, counted in the precision/recall table; a test checks that each is
 * still wrong (move an entry into CORPUS once a rule handles it). Keys: the rule at fault, or
 * "(no rule)" for what no rule covers.
 */
export const NO_RULE = "(no rule)";
export const KNOWN_GAPS: Record<string, RuleCorpus> = {
  "mysql-password": {
    // The search for -p stops at ";", which ends a command but also sits in quoted SQL.
    hits: ["mysql -uroot -e 'select 1;' -p«S3cret»"],
    misses: [],
  },
  "env-secret": {
    // A bare value ends at a quote or blank: the parts after it are left (and counted as a miss and a wrong match).
    hits: [`export API_TOKEN=«ab"cd"ef»`, "export DB_PASSWORD=«S3cret\\ with\\ blanks»"],
    // sed's pattern after password= looks like a value.
    misses: ["sed -i 's/password=.*/password=xxx/' app.conf"],
  },
  "cli-secret-flag": {
    // --secret names a secret here, it does not carry one.
    hits: [],
    misses: ["gcloud secrets versions access latest --secret my-db-password"],
  },
  "http-auth-header": {
    hits: [],
    misses: ["grep Authorization: access.log"],
  },
  [NO_RULE]: {
    hits: [
      "set -x DB_PASSWORD «S3cret»",
      `echo "password: «S3cret»" >> app.yml`,
    ],
    misses: [],
  },
};

export interface Secret {
  rule: string;
  value: string;
}

/** A hit as the command, the secrets in order, and the output with `marker(rule, value)` for each. */
export function parseHit(rule: string, line: string, marker: (rule: string, value: string) => string): { command: string; secrets: Secret[]; expected: string } {
  const secrets: Secret[] = [];
  let command = "";
  let expected = "";
  let from = 0;
  for (const m of line.matchAll(/«([^«»]*)»/g)) {
    const bar = m[1]!.indexOf("|");
    const s = bar > 0 && /^[a-z0-9.-]+$/.test(m[1]!.slice(0, bar)) ? { rule: m[1]!.slice(0, bar), value: m[1]!.slice(bar + 1) } : { rule, value: m[1]! };
    secrets.push(s);
    command += line.slice(from, m.index) + s.value;
    expected += line.slice(from, m.index) + marker(s.rule, s.value);
    from = m.index + m[0].length;
  }
  return { command: command + line.slice(from), secrets, expected: expected + line.slice(from) };
}
