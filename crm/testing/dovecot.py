"""A throwaway dovecot IMAP server for the email-capture tests (Debian's dovecot-imapd).

Plain IMAP on a free loopback port, no TLS (``ssl = no``; plain-text sign-in allowed on
loopback only), a passwd-file of test users, and a Maildir under a temporary directory
that goes away with the server. Nothing of the machine's own dovecot is read or touched:
the configuration file is our own and ``-c`` points dovecot at it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"

CONFIG = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = 0
mail_location = maildir:{dir}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={dir}/home/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
  }}
  # Outlook's name for it: a mailbox whose sent mail is here, not in "Sent".
  mailbox "Sent Items" {{
    special_use = \\Sent
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0600
  }}
}}
"""


def ensure_installed() -> str:
    """The dovecot binary, installing Debian's dovecot-imapd first when it is missing (as root only)."""
    if Path(DOVECOT).exists():
        return DOVECOT
    if os.geteuid() != 0:
        raise RuntimeError("The email-capture tests need dovecot: sudo apt-get install dovecot-imapd")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # apt-get from PATH, as the Makefile installs Chromium; fixed arguments only.
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)  # noqa: S603, S607
    subprocess.run(["apt-get", "install", "-y", "-qq", "dovecot-imapd"], check=True, env=env)  # noqa: S603, S607
    return shutil.which("dovecot") or DOVECOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Dovecot:
    host: str
    port: int
    directory: Path
    process: subprocess.Popen

    def log(self) -> str:
        path = self.directory / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start(users: dict[str, str]) -> Dovecot:
    """dovecot serving ``users`` (name → password), answering on 127.0.0.1 when this returns."""
    binary = ensure_installed()
    directory = Path(tempfile.mkdtemp(prefix="crm-dovecot-"))
    port = free_port()
    if os.geteuid() == 0:
        # As root, dovecot drops to its own unprivileged users (made by the Debian package).
        internal, login = pwd.getpwnam("dovecot"), pwd.getpwnam("dovenull")
        mail = internal
    else:
        internal = login = mail = pwd.getpwuid(os.geteuid())
    for sub in ("run", "state", "mail", "home"):
        (directory / sub).mkdir()
    (directory / "passwd").write_text("".join(f"{name}:{{PLAIN}}{password}\n" for name, password in users.items()))
    config = directory / "dovecot.conf"
    config.write_text(
        CONFIG.format(
            dir=directory,
            port=port,
            internal_user=internal.pw_name,
            internal_group=internal.pw_name,
            login_user=login.pw_name,
            mail_uid=mail.pw_uid,
            mail_gid=mail.pw_gid,
        )
    )
    if os.geteuid() == 0:
        for sub in ("mail", "home"):
            os.chown(directory / sub, mail.pw_uid, mail.pw_gid)
        # mkdtemp's 0700 would keep dovecot's own users out of their directories.
        os.chmod(directory, 0o755)  # noqa: S103
    command = [binary, "-F", "-c", str(config)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: S603
    server = Dovecot("127.0.0.1", port, directory, process)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            server.stop()
            raise RuntimeError(f"dovecot did not start: {output}\n{server.log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                if probe.recv(100).startswith(b"* OK"):
                    return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"dovecot did not answer on port {port}:\n{server.log()}")
