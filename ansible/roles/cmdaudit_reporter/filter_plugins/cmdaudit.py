"""cmdaudit_host_token: a host's ingest token, as the server computes it (server/src/host-token.ts).

    {{ ansible_facts['nodename'] | cmdaudit_host_token(vault_cmdaudit_host_key, 0) }}

cah1.<generation>.<host in lower case>.<first 16 bytes, hex, of
HMAC-SHA256(key, "cmdaudit host token v1\\n<generation>\\n<host in lower case>")>.
"""
import hashlib
import hmac
import re

from ansible.errors import AnsibleFilterError

_HOST = re.compile(r"^[A-Za-z0-9._-]{1,253}$")


def cmdaudit_host_token(host, key, generation=0):
    host = str(host).strip()
    if not _HOST.match(host):
        raise AnsibleFilterError("cmdaudit_host_token: a host token's host name may hold only A-Z a-z 0-9 . _ - (1-253 characters)")
    if len(str(key)) < 32:
        raise AnsibleFilterError("cmdaudit_host_token: the host token key must be at least 32 characters")
    try:
        generation = int(generation)
    except (TypeError, ValueError):
        raise AnsibleFilterError("cmdaudit_host_token: generation must be an integer 0-999999999")
    if not 0 <= generation <= 999999999:
        raise AnsibleFilterError("cmdaudit_host_token: generation must be an integer 0-999999999")
    host = host.lower()
    message = "cmdaudit host token v1\n%d\n%s" % (generation, host)
    mac = hmac.new(str(key).encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
    return "cah1.%d.%s.%s" % (generation, host, mac)


class FilterModule(object):
    def filters(self):
        return {"cmdaudit_host_token": cmdaudit_host_token}
