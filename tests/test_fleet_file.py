"""The fleet file: every mistake is one line naming the file, the node and the field; the
pre-flight refuses two nodes that would share a checkout, a swarm.pem or a login port, and says
the truth about port 3000 (rl-swarm's script hard-codes it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from swarmtui.engine.config import Config, parse_config
from swarmtui.engine.fleet_file import FleetError, load_fleet, plan_fleet, plan_local
from swarmtui.sim import create_checkout

REPO = Path(__file__).resolve().parents[1]


def fleet(text: str, tmp_path: Path) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, expected", [
    ("", "no [[node]] table"),
    ("[node]\nname = 'a'\n", "no [[node]] table"),
    ("x = 1\n[[node]]\nname='a'\ndir='/x'\n", "unknown table or key 'x'"),
    ("[[node]]\ndir = '/x'\n", "node #1: name: None must be 1-32 letters"),
    ("[[node]]\nname = 'a b'\ndir = '/x'\n", "node #1: name: 'a b' must be"),
    ("[[node]]\nname = '-a'\ndir = '/x'\n", "node #1: name: '-a' must be"),
    ("[[node]]\nname = 'a'\n", "node 'a': dir: None must be the checkout's path"),
    ("[[node]]\nname = 'a'\ndir = '/x'\n[[node]]\nname = 'a'\ndir = '/y'\n", "node 'a' (#2): name: already used by node #1"),
    ("[[node]]\nname = 'a'\ndir = '/x'\nport = 3\n", "node 'a': port: unknown field"),
    ("[[node]]\nname = 'a'\ndir = '/x'\nhost = '-oProxyCommand=x'\n", "node 'a': host: '-oProxyCommand=x' must be an ssh destination"),
    ("[[node]]\nname = 'a'\ndir = '/x'\nhost = 'a b'\n", "node 'a': host: 'a b' must be"),
    ("[[node]]\nname = 'a'\ndir = '/x'\nhost = '[-oProxy]'\n", "node 'a': host: '[-oProxy]' must be"),
    ("[[node]]\nname = 'a'\ndir = '/x'\nenv = 'X=1'\n", "node 'a': env: must be a table"),
    ("[[node]]\nname = 'a'\ndir = '/x'\nenv = { 'A-B' = '1' }\n", "node 'a': env: 'A-B' is not a variable name"),
    ("[[node]]\nname = 'a'\ndir = '/x'\nenv = { A = 1 }\n", "node 'a': env.A: 1 must be a string"),
    ("[[node]]\nname = 'a'\ndir = '/x'\nenv = { SWARMTUI_STATE_DIR = '/t' }\n", "node 'a': env.SWARMTUI_STATE_DIR: swarmtui's own folders"),
    ("[[node]]\nname = 'a'\ndir = '/x'\nlogin_port = 70000\n", "node 'a': login_port: 70000 must be a port number"),
    ("[[node]]\nname = 'a'\ndir = '/x'\nlogin_port = true\n", "node 'a': login_port: True must be a port number"),
    ("[[node]]\nname = 'a'\ndir = '/x'\nconfig = { restart = { budget = -1 } }\n", "node 'a': config: [restart] budget:"),
    ("[[node]]\nname = 'a'\ndir = '/x'\nconfig = { nosuch = { a = 1 } }\n", "node 'a': config: unknown section [nosuch]"),
    ("[[node]]\nname = 'a'\ndir = '/x'\nhost = 'h'\nconfig = { restart = { budget = 2 } }\n",
     "node 'a': config: overrides are for nodes on this host"),
    ("[[node]]\nname = 'a'\ndir = '/x'\nremote_command = 'swarmtui'\nhost = 'h'\n[[node]]\nname='b'\ndir='/x'\nremote_command='st'\n",
     "node 'b': remote_command: only means something for a node with a host"),
    ("[[node]\n", "not valid TOML"),
])
def test_every_mistake_is_one_line_naming_file_node_and_field(tmp_path, text, expected):
    path = fleet(text, tmp_path)
    with pytest.raises(FleetError) as exc:
        load_fleet(str(path))
    message = str(exc.value)
    assert message.startswith(str(path)) and expected in message, message
    assert "\n" not in message


def test_a_good_file_reads_back_every_field(tmp_path):
    f = load_fleet(str(fleet("""
[[node]]
name = "gpu0"
dir = "~/rl-swarm-0"
env = { CUDA_VISIBLE_DEVICES = "0" }
login_port = 3000
config = { restart = { budget = 3 } }
[[node]]
name = "box2.gpu0"
host = "ubuntu@203.0.113.7"
dir = "~/rl-swarm"
remote_command = "~/.local/bin/swarmtui"
""", tmp_path)))
    a, b = f.nodes
    assert (a.name, a.local, a.env, a.login_port, a.config) == ("gpu0", True, {"CUDA_VISIBLE_DEVICES": "0"}, 3000,
                                                                {"restart": {"budget": 3}})
    assert a.path == Path(os.path.expanduser("~/rl-swarm-0"))
    assert (b.host, b.where, b.local, b.remote_command) == ("ubuntu@203.0.113.7", "ubuntu@203.0.113.7", False,
                                                             "~/.local/bin/swarmtui")
    assert [n.name for n in f.pick(["box2.gpu0"])] == ["box2.gpu0"]
    with pytest.raises(FleetError, match="no node named 'x' \\(the fleet has: gpu0, box2.gpu0\\)"):
        f.pick(["x"])


def test_an_ipv6_host_is_written_bare_or_in_brackets(tmp_path):
    hosts = ["::1", "op@[2001:db8::7]", "2001:db8::7", "[fe80::1%eth0]"]
    f = load_fleet(str(fleet("".join(f"[[node]]\nname = 'n{i}'\ndir = '/x'\nhost = '{h}'\n"
                                     for i, h in enumerate(hosts)), tmp_path)))
    assert [n.host for n in f.nodes] == hosts


def test_the_default_file_lives_in_the_config_dir(tmp_path):
    with pytest.raises(FleetError, match="fleet file not found: .*fleet.toml \\(write one"):
        load_fleet(None)
    target = Path(os.environ["SWARMTUI_CONFIG_DIR"]) / "fleet.toml"
    target.write_text("[[node]]\nname = 'a'\ndir = '/x'\n")
    assert load_fleet(None).path == target


# ---------------------------------------------------------------- pre-flight


def sim(tmp_path: Path, name: str, port: int = 3000) -> Path:
    return create_checkout(tmp_path / name, "codezero", scenario="healthy", port=port)


def hard_coded(root: Path) -> Path:
    """The checkout's script made to read as rl-swarm's own does: localhost:3000, no variable."""
    script = root / "run_rl_swarm.sh"
    text = script.read_text()
    assert "${SWARMTUI_SIM_PORT:-3000}" in text
    script.write_text(text.replace("${SWARMTUI_SIM_PORT:-3000}", "3000"))
    return root


def plans(text: str, tmp_path: Path, base: Config | None = None):
    f = load_fleet(str(fleet(text, tmp_path)))
    return plan_fleet(f, base or Config())


def test_two_native_nodes_on_rl_swarms_own_script_collide_on_port_3000(tmp_path):
    a, b = hard_coded(sim(tmp_path, "a")), hard_coded(sim(tmp_path, "b"))
    with pytest.raises(FleetError) as exc:
        plans(f"[[node]]\nname='a'\ndir='{a}'\n[[node]]\nname='b'\ndir='{b}'\n", tmp_path)
    msg = str(exc.value)
    assert "nodes 'a' and 'b' would both use login port 3000" in msg and "hard-codes localhost:3000" in msg
    # Asking for another port does not pretend to move it.
    with pytest.raises(FleetError) as exc:
        plans(f"[[node]]\nname='a'\ndir='{a}'\n[[node]]\nname='b'\ndir='{b}'\nlogin_port=3001\n", tmp_path)
    assert "node 'b': login_port: 3001 cannot be honoured: run_rl_swarm.sh" in str(exc.value)
    assert "hard-codes localhost:3000" in str(exc.value)


def test_a_script_that_reads_its_port_from_a_variable_gets_the_node_port(tmp_path):
    a, b = sim(tmp_path, "a"), sim(tmp_path, "b")
    got = plans(f"[[node]]\nname='a'\ndir='{a}'\nlogin_port=3000\n[[node]]\nname='b'\ndir='{b}'\nlogin_port=3001\n",
                tmp_path)
    assert [(p.node.name, p.login_port, p.env) for p in got] == [
        ("a", 3000, {}), ("b", 3001, {"SWARMTUI_SIM_PORT": "3001"})]
    with pytest.raises(FleetError, match="nodes 'a' and 'b' would both use login port 3000 on this host"):
        plans(f"[[node]]\nname='a'\ndir='{a}'\n[[node]]\nname='b'\ndir='{b}'\n", tmp_path)


def test_the_docker_way_honours_a_published_port_and_refuses_a_pretended_one(tmp_path):
    a = sim(tmp_path, "a")
    docker = parse_config('[launch]\ncommand = ["docker", "compose", "run", "--rm", "-p", "3005:3000", "swarm-cpu"]\n')
    f = load_fleet(str(fleet(f"[[node]]\nname='a'\ndir='{a}'\nlogin_port=3005\n", tmp_path)))
    plan = plan_local(f.nodes[0], docker, f.path)
    assert plan.docker and plan.login_port == 3005
    with pytest.raises(FleetError, match="login_port: 3006 is not what the Docker way publishes \\(3005\\)"):
        f2 = load_fleet(str(fleet(f"[[node]]\nname='a'\ndir='{a}'\nlogin_port=3006\n", tmp_path)))
        plan_local(f2.nodes[0], docker, f2.path)


def test_one_checkout_twice_is_refused(tmp_path):
    a = sim(tmp_path, "a")
    (tmp_path / "link").symlink_to(a)
    with pytest.raises(FleetError, match="nodes 'a' and 'b' share the checkout"):
        plans(f"[[node]]\nname='a'\ndir='{a}'\n[[node]]\nname='b'\ndir='{tmp_path / 'link'}'\nlogin_port=3001\n",
              tmp_path)


def test_one_swarm_pem_twice_is_refused_by_path_and_by_content(tmp_path):
    a, b = sim(tmp_path, "a"), sim(tmp_path, "b")
    pem = tmp_path / "shared.pem"
    pem.write_bytes((a / "swarm.pem").read_bytes() if (a / "swarm.pem").exists() else b"KEY-A\n")
    two = (f"[[node]]\nname='a'\ndir='{a}'\nenv={{IDENTITY_PATH='{pem}'}}\n"
           f"[[node]]\nname='b'\ndir='{b}'\nlogin_port=3001\nenv={{IDENTITY_PATH='{pem}'}}\n")
    with pytest.raises(FleetError, match=f"nodes 'a' and 'b' share the swarm.pem {pem}"):
        plans(two, tmp_path)
    (a / "swarm.pem").write_bytes(b"SAME KEY\n")
    (b / "swarm.pem").write_bytes(b"SAME KEY\n")
    with pytest.raises(FleetError, match="nodes 'a' and 'b' have copies of the same swarm.pem"):
        plans(f"[[node]]\nname='a'\ndir='{a}'\n[[node]]\nname='b'\ndir='{b}'\nlogin_port=3001\n", tmp_path)
    (b / "swarm.pem").write_bytes(b"ANOTHER KEY\n")
    assert len(plans(f"[[node]]\nname='a'\ndir='{a}'\n[[node]]\nname='b'\ndir='{b}'\nlogin_port=3001\n", tmp_path)) == 2


def test_two_nodes_on_one_metrics_port_are_refused(tmp_path):
    a, b = sim(tmp_path, "a"), sim(tmp_path, "b")
    base = parse_config('[metrics]\nlisten = "127.0.0.1:9464"\n')
    two = f"[[node]]\nname='a'\ndir='{a}'\n[[node]]\nname='b'\ndir='{b}'\nlogin_port=3001\n"
    with pytest.raises(FleetError, match="nodes 'a' and 'b' would both serve metrics on 127.0.0.1:9464: give each"):
        plans(two, tmp_path, base)
    got = plans(two + "config = { metrics = { listen = '127.0.0.1:9465' } }\n", tmp_path, base)
    assert [p.config.metrics.listen for p in got] == ["127.0.0.1:9464", "127.0.0.1:9465"]


def test_a_node_that_is_not_a_checkout_is_named(tmp_path):
    with pytest.raises(FleetError, match=f"node 'a': dir: {tmp_path / 'nope'}: no such directory"):
        plans(f"[[node]]\nname='a'\ndir='{tmp_path / 'nope'}'\n", tmp_path)


def test_node_overrides_apply_over_the_config_file(tmp_path):
    a = sim(tmp_path, "a")
    base = parse_config("[restart]\nbudget = 9\nbackoff_initial = '3s'\n")
    (plan,) = plans(f"[[node]]\nname='a'\ndir='{a}'\nconfig={{restart={{budget=2}}}}\n", tmp_path, base)
    assert (plan.config.restart.budget, plan.config.restart.backoff_initial) == (2, 3.0)
    assert base.restart.budget == 9                 # the base config is not touched


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "swarmtui", *args], capture_output=True, text=True, env=e, timeout=60)


def test_the_commands_say_a_bad_fleet_file_in_one_line(tmp_path):
    path = fleet("[[node]]\nname = 'a'\ndir = '/x'\nlogin_port = 0\n", tmp_path)
    for args in (("fleet", "start", "--fleet", str(path)), ("ls", "--fleet", str(path)), ("fleet", "--fleet", str(path))):
        p = cli(*args)
        assert p.returncode == 2 and p.stdout == "", (args, p)
        assert p.stderr.count("\n") == 1 and f"{path}: node 'a': login_port: 0 must be a port number" in p.stderr
    p = cli("fleet", "stop", "nosuch", "--fleet", str(fleet("[[node]]\nname='a'\ndir='/x'\n", tmp_path)))
    assert p.returncode == 2 and "no node named 'nosuch'" in p.stderr and p.stderr.count("\n") == 1


def test_ls_fleet_says_why_each_node_has_no_keeper(tmp_path):
    a = sim(tmp_path, "a")
    path = fleet(f"[[node]]\nname='a'\ndir='{a}'\n[[node]]\nname='gone'\ndir='{tmp_path / 'nope'}'\n"
                 f"[[node]]\nname='far'\nhost='swarmtui-no-such-host.invalid'\ndir='~/x'\n", tmp_path)
    p = cli("ls", "--fleet", str(path), "--json", env={"SWARMTUI_SSH": "ssh -o BatchMode=yes -o ConnectTimeout=2"})
    assert p.returncode == 0, p.stderr
    import json

    rows = {r["name"]: r for r in map(json.loads, p.stdout.splitlines())}
    assert rows["a"]["state"] == "no-keeper" and "fleet start a" in rows["a"]["reason"]
    assert rows["gone"]["state"] in ("no-keeper", "unreachable")
    assert rows["far"]["state"] == "unreachable" and rows["far"]["reason"].startswith("ssh:"), rows["far"]
    assert rows["far"]["host"] == "swarmtui-no-such-host.invalid"
