"""A real OpenSSH server on loopback, for tests that reach a keeper the way a remote host is
reached: `ssh HOST swarmtui attach --stdio DIR`.

`sshd` (fixture) starts /usr/sbin/sshd as the current user on a free 127.0.0.1 port, with a
host key and a client key made for the test (ssh-keygen), its own authorized_keys, and writes an
ssh_config whose `Host` alias reaches it with that key, a private known_hosts and BatchMode. The
session on the "remote" side gets the test's private SWARMTUI_*_DIR folders (sshd_config
SetEnv), so it talks to the keepers this test started, and finds this venv's swarmtui first on
its PATH. sshd runs in the foreground (-D) as our child: teardown stops that process, by its
Popen, and nothing else.

Skipped, with the reason, where /usr/sbin/sshd or ssh-keygen is not installed (CI installs
openssh-server: .ci/run).
"""

from __future__ import annotations

import getpass
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
REPO = Path(__file__).resolve().parents[1]
HOST = "swarmtui-test-host"            # the ssh_config alias of the test's sshd
DOWN = "swarmtui-down-host"            # an alias whose port nothing listens on


@dataclass
class Sshd:
    host: str                          # the alias: `ssh -F config HOST` reaches the server
    down_host: str                     # an alias for a closed port on 127.0.0.1
    port: int
    config: Path                       # the client's ssh_config
    ssh_command: tuple[str, ...]       # ("ssh", "-F", config)
    remote_command: str                # this venv's swarmtui, as the remote shell runs it
    log: Path                          # sshd's own log (-e), for a failing test's message
    proc: subprocess.Popen
    ipv6: bool = False                 # it listens on ::1 too, and `ssh -F config ::1` reaches it

    def env_ssh(self) -> str:
        """The value of SWARMTUI_SSH for a `swarmtui` subprocess that must use this server."""
        return shlex.join(self.ssh_command)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _quote_conf(value: str) -> str:
    # sshd_config and ssh_config take double-quoted values; our tmp paths never hold a quote.
    assert '"' not in value, value
    return f'"{value}"'


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "swarmtui-test", "-f", str(path)],
                   check=True, capture_output=True, timeout=30)


def _remote_command() -> str:
    """This venv's swarmtui: its console script when installed, else `python -m swarmtui` (the
    remote shell splits it into words; PYTHONPATH is set by SetEnv)."""
    script = Path(sys.executable).with_name("swarmtui")
    if script.is_file() and os.access(script, os.X_OK):
        return str(script)
    return f"{sys.executable} -m swarmtui"


def start_sshd(base: Path, env: dict[str, str] | None = None) -> Sshd:
    """Start one sshd under `base` (a fresh folder) whose sessions get `env` (SetEnv)."""
    if not os.path.exists(SSHD):
        pytest.skip(f"{SSHD} is not installed (Debian: apt-get install openssh-server)")
    if shutil.which("ssh-keygen") is None or shutil.which("ssh") is None:
        pytest.skip("the OpenSSH client (ssh, ssh-keygen) is not installed")
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    host_key, client_key = base / "host_ed25519", base / "client_ed25519"
    _keygen(host_key)
    _keygen(client_key)
    authorized = base / "authorized_keys"
    authorized.write_text(client_key.with_suffix(".pub").read_text())
    os.chmod(authorized, 0o600)
    port = _free_port()
    user = getpass.getuser()
    session_env = dict(env or {})
    session_env.setdefault("PYTHONPATH", str(REPO))
    # The venv's bin first: `swarmtui` on the remote side is the one under test.
    session_env.setdefault("PATH", f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin")
    setenv = " ".join(_quote_conf(f"{k}={v}") for k, v in sorted(session_env.items()))
    sshd_config = base / "sshd_config"
    ipv6 = _has_ipv6_loopback()
    sshd_config.write_text("\n".join([
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        *(["ListenAddress [::1]"] if ipv6 else []),
        f"HostKey {_quote_conf(str(host_key))}",
        f"PidFile {_quote_conf(str(base / 'sshd.pid'))}",
        f"AuthorizedKeysFile {_quote_conf(str(authorized))}",
        f"AllowUsers {user}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        # The test's tmp folders are not laid out as sshd's strict modes want a home to be.
        "StrictModes no",
        "UsePAM no",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
        "AllowTcpForwarding no",
        "PermitTTY no",
        "LogLevel VERBOSE",
        f"SetEnv {setenv}",
        "",
    ]))
    if os.getuid() == 0:
        # sshd as root insists on its privilege separation folder (Debian's package makes it at
        # boot through tmpfiles.d, which a container never ran).
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    known_hosts = base / "known_hosts"
    client_config = base / "ssh_config"
    common = [
        f"  User {user}",
        f"  IdentityFile {_quote_conf(str(client_key))}",
        "  IdentitiesOnly yes",
        "  IdentityAgent none",
        f"  UserKnownHostsFile {_quote_conf(str(known_hosts))}",
        "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking accept-new",
        "  BatchMode yes",
        "  LogLevel ERROR",
        "  ControlMaster no",
        "  ControlPath none",
    ]
    client_config.write_text("\n".join([
        f"Host {HOST}", "  HostName 127.0.0.1", f"  Port {port}", *common,
        f"Host {DOWN}", "  HostName 127.0.0.1", f"  Port {_free_port()}", *common,
        # the address as a person types it (scp's `[::1]:DIR`; ssh gets `::1`)
        *(["Host ::1", f"  Port {port}", *common] if ipv6 else []), "",
    ]))
    log = base / "sshd.log"
    with open(log, "ab") as log_fd:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(sshd_config)], stdin=subprocess.DEVNULL,
                                stdout=log_fd, stderr=log_fd, start_new_session=True)
    server = Sshd(HOST, DOWN, port, client_config, ("ssh", "-F", str(client_config)), _remote_command(), log, proc,
                  ipv6)
    end = time.monotonic() + 15
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited at once ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.05)
    stop_sshd(server)
    raise RuntimeError(f"sshd did not listen on {port} within 15s: {log.read_text()[-2000:]}")


def stop_sshd(server: Sshd) -> None:
    """End our sshd (the Popen we started: its pid cannot be another's until we reap it). The
    sessions it forked end with their connections, which their tests closed."""
    proc = server.proc
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def sshd(tmp_path_factory):
    """An sshd whose sessions see this test's SWARMTUI_*_DIR (set by conftest before us)."""
    env = {k: v for k, v in os.environ.items() if k.startswith("SWARMTUI_") and k.endswith("_DIR")}
    server = start_sshd(tmp_path_factory.mktemp("sshd"), env)
    yield server
    stop_sshd(server)
