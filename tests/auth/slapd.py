"""A real OpenLDAP ``slapd`` on loopback for the LDAP store's tests: its own config, database
and test entries in a temporary directory, started as a child process (nothing of the
system's configuration is touched), stopped at cleanup."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import trustme

__all__ = ["SLAPD", "SKIP_REASON", "Slapd", "SUFFIX", "ADMIN_DN", "ADMIN_PASSWORD", "freePort"]

SLAPD = shutil.which("slapd") or ("/usr/sbin/slapd" if os.path.exists("/usr/sbin/slapd") else None)
SLAPADD = shutil.which("slapadd") or (
    "/usr/sbin/slapadd" if os.path.exists("/usr/sbin/slapadd") else None)
SCHEMA = "/etc/ldap/schema"
MODULES = "/usr/lib/ldap"
SKIP_REASON = (
    "slapd is not installed (Debian: apt-get install slapd ldap-utils); the LDAP store is"
    " tested only against a real slapd"
)
if SLAPD is None or SLAPADD is None or not os.path.isdir(SCHEMA):
    SLAPD = None

SUFFIX = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "admin-secret"

#: The directory: users alice (write, update), bob (read), eve (no groups), a user whose
#: name and DN hold filter metacharacters (read), one with a non-ASCII name (write), and an
#: RFC 2307 posixGroup listing bob by name.
_LDIF = """\
dn: {suffix}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=users,{suffix}
objectClass: organizationalUnit
ou: users

dn: ou=groups,{suffix}
objectClass: organizationalUnit
ou: groups

dn: ou=posix,{suffix}
objectClass: organizationalUnit
ou: posix

dn: uid=alice,ou=users,{suffix}
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: A
userPassword: alice-pw

dn: uid=bob,ou=users,{suffix}
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: B
userPassword: bob-pw

dn: uid=eve,ou=users,{suffix}
objectClass: inetOrgPerson
uid: eve
cn: Eve
sn: E
userPassword: eve-pw

dn: uid=we(ird)*,ou=users,{suffix}
objectClass: inetOrgPerson
uid: we(ird)*
cn: Weird
sn: W
userPassword: weird-pw

dn:: {zoeDn}
objectClass: inetOrgPerson
uid:: {zoeUid}
cn: Zoe
sn: Z
userPassword:: {zoePassword}

dn: cn=write,ou=groups,{suffix}
objectClass: groupOfNames
cn: write
member: uid=alice,ou=users,{suffix}
member:: {zoeDn}

dn: cn=update,ou=groups,{suffix}
objectClass: groupOfNames
cn: update
member: uid=alice,ou=users,{suffix}

dn: cn=read,ou=groups,{suffix}
objectClass: groupOfNames
cn: read
member: uid=bob,ou=users,{suffix}
member: uid=we(ird)*,ou=users,{suffix}

dn: cn=ops,ou=posix,{suffix}
objectClass: posixGroup
cn: ops
gidNumber: 5000
memberUid: bob
"""

_CONF = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/nis.schema
include {schema}/inetorgperson.schema
modulepath {modules}
moduleload back_mdb
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
{tls}
database mdb
maxsize 16777216
suffix "{suffix}"
rootdn "{admin}"
rootpw {adminPassword}
directory {dir}/db
access to attrs=userPassword by anonymous auth by * none
access to * by * read
"""


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def freePort() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Slapd:
    """One slapd, listening on ``ldap://127.0.0.1:port`` and ``ldaps://127.0.0.1:tlsPort``
    (a certificate for ``localhost`` and 127.0.0.1 from ``ca``, written to ``caFile``)."""

    def __init__(self) -> None:
        assert SLAPD is not None and SLAPADD is not None, SKIP_REASON
        self.dir = tempfile.mkdtemp(prefix="bws-slapd-")
        self.port = freePort()
        self.tlsPort = freePort()
        self.ca = trustme.CA(organization_name="bws LDAP test CA")
        leaf = self.ca.issue_cert("localhost", "127.0.0.1")
        self.caFile = os.path.join(self.dir, "ca.pem")
        self.ca.cert_pem.write_to_path(self.caFile)
        certFile = os.path.join(self.dir, "server.pem")
        keyFile = os.path.join(self.dir, "server.key")
        leaf.cert_chain_pems[0].write_to_path(certFile)
        leaf.private_key_pem.write_to_path(keyFile)
        os.mkdir(os.path.join(self.dir, "db"))
        self.conf = os.path.join(self.dir, "slapd.conf")
        tls = (f"TLSCertificateFile {certFile}\nTLSCertificateKeyFile {keyFile}\n"
               f"TLSCACertificateFile {self.caFile}")
        with open(self.conf, "w") as f:
            f.write(_CONF.format(schema=SCHEMA, modules=MODULES, dir=self.dir, suffix=SUFFIX,
                                 admin=ADMIN_DN, adminPassword=ADMIN_PASSWORD, tls=tls))
        ldif = os.path.join(self.dir, "data.ldif")
        with open(ldif, "w", encoding="utf-8") as f:
            f.write(_LDIF.format(suffix=SUFFIX, zoeDn=_b64(f"uid=zoë,ou=users,{SUFFIX}"),
                                 zoeUid=_b64("zoë"), zoePassword=_b64("zoë-pw")))
        subprocess.run([SLAPADD, "-q", "-f", self.conf, "-l", ldif], check=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def tlsUrl(self) -> str:
        return f"ldaps://localhost:{self.tlsPort}"

    def start(self) -> None:
        """Start slapd (in the foreground of its own process) and wait until it answers.
        If its ports were taken meanwhile (by a test running in parallel), try others."""
        for _ in range(3):
            if self._start():
                return
            self.port, self.tlsPort = freePort(), freePort()
        raise RuntimeError("slapd could not bind its ports")

    def _start(self) -> bool:
        assert self.process is None
        self.process = subprocess.Popen(
            [SLAPD, "-d", "0", "-f", self.conf,
             "-h", f"ldap://127.0.0.1:{self.port}/ ldaps://127.0.0.1:{self.tlsPort}/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                err = self.process.stderr.read() if self.process.stderr else b""
                self.process = None
                if b"bind" in err.lower() or b"in use" in err.lower():
                    return False
                raise RuntimeError(f"slapd exited at start: {err.decode(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("slapd did not answer within 20 s") from None
                time.sleep(0.02)

    def stop(self) -> None:
        """Stop slapd (the database stays, so :meth:`start` brings the same directory back)."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr:
            process.stderr.close()

    def pause(self) -> None:
        """Freeze slapd (SIGSTOP): connections open, nothing is answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused slapd run again (SIGCONT)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def cleanup(self) -> None:
        """Stop slapd and remove its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
