"""`swarmtui start HOST:DIR` and `swarmtui stop HOST:DIR`: the same command, run on HOST by its
own swarmtui over the user's ssh (BatchMode, their config, keys and agent), as `attach HOST:DIR`
reaches a keeper there. The keeper is that host's: its config file and state dir apply, and
nothing of this host is sent. Its output is shown here as it comes, sanitized; a failure is one
line (ssh's reason, a missing swarmtui, the remote command's own message) and exit 1.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from typing import Mapping, Sequence

from swarmtui.engine import channel
from swarmtui.errors import UserError
from swarmtui.node.text import sanitize


def remote_line(remote_command: str, verb: str, node_dir: str, *, options: Sequence[str] = (),
                env: Mapping[str, str] | None = None) -> str:
    """The command line HOST's shell runs: `[env K=V ...] swarmtui VERB [OPTIONS] DIR`, every word
    quoted but a leading `~/` (the remote home: channel.remote_words)."""
    command, node = channel.remote_words(remote_command, node_dir).rsplit(" attach --stdio ", 1)
    words = " ".join(shlex.quote(o) for o in options)
    prefix = "env " + " ".join(shlex.quote(f"{k}={v}") for k, v in sorted(env.items())) + " " if env else ""
    return f"{prefix}{command} {verb} {words + ' ' if words else ''}{node}"


def ssh_run_argv(host: str, line: str, ssh_command: Sequence[str] | None = None) -> list[str]:
    ssh = list(ssh_command) if ssh_command is not None else list(channel.ssh_command_from_env())
    return [*ssh, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "--", channel.check_host(host), line]


def run_remote(verb: str, host: str, node_dir: str, *, remote_command: str = "swarmtui") -> int:
    try:
        argv = ssh_run_argv(host, remote_line(remote_command, verb, node_dir))
    except channel.ChannelError as exc:
        raise UserError(str(exc)) from None
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except FileNotFoundError:
        raise UserError(f"{argv[0]}: not found on this host (is OpenSSH's client installed?)") from None
    assert proc.stdout is not None and proc.stderr is not None
    # A stop prints its sequence as it goes: pass each line on as it comes.
    for raw in proc.stdout:
        sys.stdout.write(sanitize(raw.decode("utf-8", "replace").rstrip("\r\n")) + "\n")
        sys.stdout.flush()
    err = proc.stderr.read().decode("utf-8", "replace").splitlines()
    rc = proc.wait()
    if rc != 0:
        raise UserError(channel.classify(rc, err, channel.host_label(host), node_dir), exit_code=1)
    if verb == "start":
        print(sanitize(f"  from here: swarmtui attach {channel.join_target(host, node_dir)}    "
                       f"swarmtui stop {channel.join_target(host, node_dir)}"))
    return 0
