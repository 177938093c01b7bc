"""The fleet file: which nodes `swarmtui fleet` and `ls --fleet` look after, and the pre-flight
that refuses two nodes that would fight over one thing.

    [[node]]
    name = "gpu0"                       # short, unique: the metrics `node` label and the row name
    dir = "~/rl-swarm-0"                # the checkout (on `host` when given)
    env = { CUDA_VISIBLE_DEVICES = "0" }
    login_port = 3000                   # only where the launch way can honour it (see below)
    config = { restart = { budget = 3 } }   # the normal config sections, over the config file
    [[node]]
    name = "box2"
    host = "ubuntu@203.0.113.7"         # reached with the user's own ssh (BatchMode)
    dir = "~/rl-swarm"
    remote_command = "swarmtui"         # how to run swarmtui there (e.g. "~/.local/bin/swarmtui")

The login port: rl-swarm's run_rl_swarm.sh and its trainer hard-code `localhost:3000`
(docker-compose.yaml maps 3000:3000), so two native nodes on one host cannot both have a login
server: nothing we set moves it. A script that reads its port from a variable
(`localhost:${VAR:-3000}`, as the simulator's does) gets that variable set; the Docker way
honours a port its [launch] command publishes (`-p 3001:3000`). Anything else is refused in
one line rather than pretended.

Every mistake is one UserError line naming the file, the node and the field.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarmtui.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

FLEET_FILE = "fleet.toml"
MAX_FLEET_BYTES = 1 << 20
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# ssh destination: [user@]host, no option (a leading "-" would be read as one), no spaces
HOST = re.compile(r"^(?:[A-Za-z0-9._%+-]+@)?(?:[A-Za-z0-9][A-Za-z0-9._:-]*|\[[0-9A-Fa-f:.]*:[0-9A-Za-z:.%_-]*\]|::[0-9A-Fa-f:.]*)$")
DEFAULT_REMOTE_COMMAND = "swarmtui"
_FIELDS = ("name", "dir", "host", "env", "login_port", "config", "remote_command")
# The container side of the login port in rl-swarm's docker-compose.yaml.
DOCKER_LOGIN_PORT = 3000


class FleetError(UserError):
    def __init__(self, message: str):
        super().__init__(message, exit_code=2)


@dataclass(frozen=True)
class FleetNode:
    name: str
    dir: str                                    # as written; expanded on the node's host
    host: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    login_port: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    remote_command: str = DEFAULT_REMOTE_COMMAND

    @property
    def local(self) -> bool:
        return self.host is None

    @property
    def path(self) -> Path:
        """The checkout of a local node (a remote node's dir means nothing here)."""
        return Path(os.path.expanduser(self.dir))

    @property
    def where(self) -> str:
        return self.host or "local"


@dataclass(frozen=True)
class Fleet:
    path: Path
    nodes: tuple[FleetNode, ...]

    def pick(self, names: list[str] | tuple[str, ...]) -> list[FleetNode]:
        """The named nodes (all of them for none), in the fleet file's order."""
        if not names:
            return list(self.nodes)
        known = {n.name for n in self.nodes}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise FleetError(f"{self.path}: no node named {', '.join(repr(u) for u in unknown)} "
                             f"(the fleet has: {', '.join(n.name for n in self.nodes)})")
        return [n for n in self.nodes if n.name in names]


def fleet_path(given: str | None) -> Path:
    if given:
        return Path(given).expanduser()
    from swarmtui.paths import config_dir

    return config_dir() / FLEET_FILE


def load_fleet(given: str | None = None) -> Fleet:
    path = fleet_path(given)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FLEET_BYTES + 1)
    except FileNotFoundError:
        how = "" if given else " (write one, see README 'Fleets', or give --fleet FILE)"
        raise FleetError(f"fleet file not found: {path}{how}") from None
    except IsADirectoryError:
        raise FleetError(f"fleet file is a directory: {path}") from None
    except OSError as exc:
        raise FleetError(f"cannot read fleet file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_FLEET_BYTES:
        raise FleetError(f"fleet file is bigger than {MAX_FLEET_BYTES >> 10} KB: {path}")
    return parse_fleet(raw, path)


def parse_fleet(raw: bytes | str, path: Path | str = FLEET_FILE) -> Fleet:
    where = str(path)
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise FleetError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise FleetError(f"{where}: not valid TOML: {exc}") from None
    extra = sorted(set(data) - {"node"})
    if extra:
        raise FleetError(f"{where}: unknown table or key {extra[0]!r} (a fleet file has only [[node]] tables)")
    items = data.get("node")
    if not isinstance(items, list) or not items:
        raise FleetError(f"{where}: no [[node]] table (each node is a [[node]] with name and dir)")
    nodes: list[FleetNode] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items, 1):
        node = _node(where, i, item)
        if node.name in seen:
            raise FleetError(f"{where}: node {node.name!r} (#{i}): name: already used by node #{seen[node.name]}")
        seen[node.name] = i
        nodes.append(node)
    return Fleet(Path(path), tuple(nodes))


def _node(where: str, i: int, item: Any) -> FleetNode:
    if not isinstance(item, dict):
        raise FleetError(f"{where}: node #{i}: must be a [[node]] table")
    name = item.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise FleetError(f"{where}: node #{i}: name: {_shown(name)} must be 1-32 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit")
    at = f"{where}: node {name!r}"

    def bad(fld: str, why: str) -> FleetError:
        return FleetError(f"{at}: {fld}: {why}")

    unknown = sorted(set(item) - set(_FIELDS))
    if unknown:
        raise bad(unknown[0], f"unknown field (known: {', '.join(_FIELDS)})")
    d = item.get("dir")
    if not isinstance(d, str) or not d.strip() or _control(d):
        raise bad("dir", f"{_shown(d)} must be the checkout's path")
    host = item.get("host")
    if host is not None and (not isinstance(host, str) or not HOST.match(host)):
        raise bad("host", f"{_shown(host)} must be an ssh destination like user@host (no spaces, no leading '-')")
    env_raw = item.get("env", {})
    if not isinstance(env_raw, dict):
        raise bad("env", "must be a table of NAME = \"value\"")
    env: dict[str, str] = {}
    for k, v in env_raw.items():
        if not ENV_KEY.match(k):
            raise bad("env", f"{_shown(k)} is not a variable name")
        if not isinstance(v, str) or "\0" in v:
            raise bad(f"env.{k}", f"{_shown(v)} must be a string")
        if k.startswith("SWARMTUI_") and k.endswith("_DIR"):
            raise bad(f"env.{k}", "swarmtui's own folders are not per node (each node gets its own state already)")
        env[k] = v
    port = item.get("login_port")
    if port is not None and (not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536):
        raise bad("login_port", f"{_shown(port)} must be a port number (1-65535)")
    cfg = item.get("config", {})
    if not isinstance(cfg, dict):
        raise bad("config", "must be a table of config sections, e.g. { restart = { budget = 3 } }")
    if cfg:
        from swarmtui.engine.config import Config, ConfigError, apply_table

        try:
            apply_table(Config(), cfg, f"{at}: config")
        except ConfigError as exc:
            raise FleetError(str(exc)) from None
    if cfg and host is not None:
        raise bad("config", f"overrides are for nodes on this host; on {host} its own config file applies")
    rc = item.get("remote_command", DEFAULT_REMOTE_COMMAND)
    if not isinstance(rc, str) or not rc.strip() or _control(rc):
        raise bad("remote_command", f"{_shown(rc)} must be the command that runs swarmtui on the host")
    if rc != DEFAULT_REMOTE_COMMAND and host is None:
        raise bad("remote_command", "only means something for a node with a host")
    return FleetNode(name=name, dir=d, host=host, env=env, login_port=port, config=cfg, remote_command=rc)


def _control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------- what a local node will use


@dataclass(frozen=True)
class LocalPlan:
    """How one local node is started: its checkout, the env its keeper gets, its config, and
    what it will hold on this host."""
    node: FleetNode
    root: Path
    env: dict[str, str]                 # added to the keeper's environment
    config: Any                         # engine.config.Config with the node's overrides
    login_port: int
    identity_path: Path
    docker: bool


def plan_local(node: FleetNode, base_config: Any, fleet_path: Path) -> LocalPlan:
    """One line (FleetError) for a node that cannot be started as written."""
    import copy

    from swarmtui.engine import container
    from swarmtui.engine.config import ConfigError, apply_table
    from swarmtui.node.layout import NotACheckout, inspect_checkout, login_port_variable

    at = f"{fleet_path}: node {node.name!r}"
    cfg = copy.deepcopy(base_config)
    if node.config:
        try:
            apply_table(cfg, node.config, f"{at}: config")
        except ConfigError as exc:
            raise FleetError(str(exc)) from None
    env = dict(node.env)
    argv = tuple(cfg.launch.command or ("bash", "run_rl_swarm.sh"))
    docker = container.is_docker_command(argv)
    full_env = {**os.environ, **env}
    try:
        layout = inspect_checkout(node.path, full_env, docker=docker)
    except NotACheckout as exc:
        raise FleetError(f"{at}: dir: {exc}") from None
    port = layout.login_port
    if docker:
        published = _docker_published(argv)
        port = published if published is not None else DOCKER_LOGIN_PORT
        if node.login_port is not None and node.login_port != port:
            raise FleetError(f"{at}: login_port: {node.login_port} is not what the Docker way publishes ({port}): "
                             f"put \"-p\", \"{node.login_port}:{DOCKER_LOGIN_PORT}\" in its [launch] command "
                             "(without -P, which publishes docker-compose.yaml's 3000:3000)")
    elif node.login_port is not None and node.login_port != port:
        try:
            script_text = layout.script.read_text(encoding="utf-8", errors="replace")
        except OSError:
            script_text = ""
        var = login_port_variable(script_text)
        if var is None or var in node.env:
            raise FleetError(f"{at}: login_port: {node.login_port} cannot be honoured: {layout.script.name} in "
                             f"{layout.root} hard-codes localhost:{port} (so does rl-swarm's trainer); run this "
                             "node the Docker way with -p, or on another host")
        env[var] = str(node.login_port)
        port = node.login_port
    return LocalPlan(node=node, root=layout.root, env=env, config=cfg, login_port=port,
                     identity_path=layout.identity_path, docker=docker)


def _docker_published(argv: tuple[str, ...]) -> int | None:
    """The host port a `docker compose run` command maps to the container's login port."""
    for i, word in enumerate(argv):
        value = None
        if word in ("-p", "--publish") and i + 1 < len(argv):
            value = argv[i + 1]
        elif word.startswith("--publish="):
            value = word.split("=", 1)[1]
        if value:
            parts = value.split(":")
            if len(parts) >= 2 and parts[-1].split("/")[0] == str(DOCKER_LOGIN_PORT) and parts[-2].isdigit():
                return int(parts[-2])
    return None


def preflight(plans: list[LocalPlan], remote: list[FleetNode], fleet_path: Path) -> None:
    """Refuse, in one line, two nodes that would share a checkout, a swarm.pem, a login port or a
    metrics port."""
    from swarmtui.engine.config import parse_listen

    by_root: dict[Path, str] = {}
    by_pem: dict[Path, str] = {}
    by_key: dict[bytes, str] = {}
    by_port: dict[int, str] = {}
    for p in plans:
        name = p.node.name
        other = by_root.setdefault(p.root, name)
        if other != name:
            raise FleetError(f"{fleet_path}: nodes {other!r} and {name!r} share the checkout {p.root}: "
                             "one keeper per checkout (give each node its own clone)")
        pem = Path(os.path.realpath(p.identity_path))
        other = by_pem.setdefault(pem, name)
        if other != name:
            raise FleetError(f"{fleet_path}: nodes {other!r} and {name!r} share the swarm.pem {pem}: two nodes "
                             "with one identity fight over it on the swarm (give each its own)")
        try:
            key = pem.read_bytes().strip()
        except OSError:
            key = b""               # no key yet: the node makes its own at its first start
        if key:
            other = by_key.setdefault(key, name)
            if other != name:
                raise FleetError(f"{fleet_path}: nodes {other!r} and {name!r} have copies of the same swarm.pem "
                                 f"({p.identity_path}): one identity, two nodes (give each its own)")
        other = by_port.setdefault(p.login_port, name)
        if other != name:
            why = ("both run rl-swarm's script, which hard-codes localhost:3000 for the login server and the "
                   "trainer" if p.login_port == DOCKER_LOGIN_PORT and not p.docker else "both set it")
            raise FleetError(f"{fleet_path}: nodes {other!r} and {name!r} would both use login port "
                             f"{p.login_port} on this host ({why}): only one login server can listen there; "
                             "run one of them the Docker way with another port, or on another host")
    by_listen: dict[tuple[str, int], str] = {}
    for p in plans:
        listen = getattr(getattr(p.config, "metrics", None), "listen", None)
        if not listen:
            continue
        other = by_listen.setdefault(parse_listen(listen), p.node.name)
        if other != p.node.name:
            raise FleetError(f"{fleet_path}: nodes {other!r} and {p.node.name!r} would both serve metrics on "
                             f"{listen}: give each its own, e.g. config = {{ metrics = {{ listen = "
                             f"\"127.0.0.1:9465\" }} }}")
    seen: dict[tuple[str, str], str] = {}
    for n in remote:
        other = seen.setdefault((n.host or "", os.path.normpath(n.dir)), n.name)
        if other != n.name:
            raise FleetError(f"{fleet_path}: nodes {other!r} and {n.name!r} share the checkout {n.dir} on "
                             f"{n.host}: one keeper per checkout")


def plan_fleet(fleet: Fleet, base_config: Any, nodes: list[FleetNode] | None = None) -> list[LocalPlan]:
    """Plans for the local nodes among `nodes` (all by default), after the pre-flight of the whole
    fleet: starting one node must not make it collide with another that runs already."""
    wanted = {n.name for n in (nodes if nodes is not None else fleet.nodes)}
    plans = []
    for n in fleet.nodes:
        if not n.local:
            continue
        try:
            plans.append(plan_local(n, base_config, fleet.path))
        except FleetError:
            if n.name in wanted:
                raise
            # A node that cannot start (no checkout there) holds nothing another could collide with.
    preflight(plans, [n for n in fleet.nodes if not n.local], fleet.path)
    return [p for p in plans if p.node.name in wanted]
