"""The commands, as real processes: `swarmtui notify test` against a live and a dead URL, and
`swarmtui supervise` sending an alert and running a hook from the keeper itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from swarmtui import paths
from swarmtui.sim import create_checkout
from alert_receiver import Receiver, dead_url
from test_sim_support import free_port, kill_leftovers
from test_supervise_cli import Reader

pytest.importorskip("apprise")
pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(120)]


def env(**extra: str) -> dict:
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("SWARMTUI_SIM_") and k not in ("SWARMTUI_RUN_ID", "SWARMTUI_NOTIFY_URLS")}
    e["PYTHONUNBUFFERED"] = "1"
    e.update(extra)
    return e


def swarmtui(*args: str, timeout: float = 60, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swarmtui", *args], capture_output=True, text=True,
                          env=env(**extra), timeout=timeout)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_notify_test_says_sent_or_the_error_per_url_and_never_shows_a_token(tmp_path, receiver):
    node = create_checkout(tmp_path / "rl-swarm", "codezero", port=free_port())
    good = receiver.url("/hook/tok-9f8e7d6c5b4a")
    dead = dead_url()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[notify]\nurls = ["{good}"]\n')
    cfg.chmod(0o600)
    res = swarmtui("notify", "test", str(node), "--config", str(cfg), SWARMTUI_NOTIFY_URLS=f"{dead},bogus://zzz")
    assert res.returncode == 1, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 3, res.stdout
    assert lines[0] == f"json://127.0.0.1:{receiver.port}/ho…/to…: sent"
    assert lines[1].startswith("json://127.0.0.1:") and ": FAILED: " in lines[1] and "Connection" in lines[1]
    assert lines[2].startswith("bogus://zz…: FAILED: not an URL apprise understands")
    assert "tok-9f8e7d6c5b4a" not in res.stdout + res.stderr and res.stderr == ""
    (body,) = receiver.bodies()
    assert body["title"] == "swarmtui: test alert (rl-swarm)" and "notify test" in body["message"]
    assert receiver.paths == ["/hook/tok-9f8e7d6c5b4a"]


def test_notify_test_with_only_good_urls_exits_0_and_without_urls_is_one_line(tmp_path, receiver):
    res = swarmtui("notify", "test", SWARMTUI_NOTIFY_URLS=receiver.url())
    assert res.returncode == 0 and res.stdout.strip().endswith(": sent"), res.stdout + res.stderr
    res = swarmtui("notify", "test", "--config", str(tmp_path / "none.toml"))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "config file not found" in res.stderr
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    res = swarmtui("notify", "test", "--config", str(empty))
    assert res.returncode == 2 and res.stdout == "" and res.stderr.count("\n") == 1
    assert "no alert URLs" in res.stderr and "SWARMTUI_NOTIFY_URLS" in res.stderr
    res = swarmtui("notify", "test", str(tmp_path), SWARMTUI_NOTIFY_URLS=receiver.url())
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


def test_the_keeper_sends_the_alert_and_runs_the_hook(tmp_path, receiver):
    node = create_checkout(tmp_path / "rl-swarm", "codezero", scenario="p2pd-timeout", speed=1000.0, login="present",
                           port=free_port())
    seen = tmp_path / "hook-saw.txt"
    hook = tmp_path / "hook.py"
    hook.write_text(f"import json, sys\nd = json.load(sys.stdin)\nopen({str(seen)!r}, 'a').write(d['event'] + '\\n')\n"
                    "print('hook ran for', d['event'])\n")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""\
[restart]
startup_failures = 1
stop_timeout = "2s"
term_timeout = "2s"
[watch]
min_free_disk_mb = 1
[notify]
urls = ["{receiver.url('/hook/tok-1a2b3c4d5e')}"]
[hooks]
on_event = ["{sys.executable}", "{hook}"]
timeout = "10s"
""")
    cfg.chmod(0o600)
    proc = subprocess.Popen([sys.executable, "-m", "swarmtui", "supervise", str(node), "--config", str(cfg), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(), start_new_session=True)
    reader = Reader(proc)
    try:
        told = reader.wait(lambda e: e.get("event") == "notice" and "alerts (" in e.get("text", ""), 30,
                           "the alerts notice")
        assert f"json://127.0.0.1:{receiver.port}/ho…/to…" in told["text"] and "tok-1a2b" not in told["text"]
        state = reader.wait(lambda e: e.get("event") == "state" and e.get("state") == "needs-user", 60, "needs-user")
        assert state["reason"] == "p2pd-startup-timeout" and state["next_restart_in"] == 1800
        end = time.monotonic() + 15
        while not receiver.raw and time.monotonic() < end:
            time.sleep(0.05)
        (body,) = receiver.bodies()
        assert "keeps failing (p2pd-startup-timeout)" in body["title"] and "rl-swarm" in body["title"]
        while "state" not in (seen.read_text() if seen.exists() else "") and time.monotonic() < end:
            time.sleep(0.05)
        assert "state" in seen.read_text().split()
        log = paths.node_state_dir(node) / "hooks.log"
        assert "hook ran for state" in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
            kill_leftovers(node)
    assert proc.returncode == 0
    assert "Traceback" not in proc.stderr.read().decode()


def test_without_apprise_notify_test_is_one_line_and_a_keeper_says_so_once(tmp_path, monkeypatch):
    blocked = "import sys; sys.modules['apprise'] = None; from swarmtui.cli import main; sys.exit(main(sys.argv[1:]))"
    res = subprocess.run([sys.executable, "-c", blocked, "notify", "test"], capture_output=True, text=True,
                         env=env(SWARMTUI_NOTIFY_URLS="json://127.0.0.1:9/x"), timeout=30)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == "swarmtui: apprise is not installed (pip install 'apprise>=1.9', or reinstall swarmtui)\n"

    import asyncio

    from swarmtui.engine import events as ev
    from swarmtui.engine.config import Config
    from swarmtui.engine.exports import Exports
    from swarmtui.node.layout import inspect_checkout

    monkeypatch.setitem(sys.modules, "apprise", None)
    node = create_checkout(tmp_path / "rl-swarm", "codezero", port=free_port())
    cfg = Config()
    cfg.notify.urls = ("tgram://123456:TOKENVALUE/42",)
    notices: list[str] = []

    async def keeper() -> None:
        exports = Exports(inspect_checkout(node), cfg, notice=lambda level, text: notices.append(f"{level}: {text}"))
        await exports.start()
        exports.observe(ev.StateChanged(state=ev.NEEDS_USER, reason="oom-killed", detail="gave up"))
        await exports.close()

    asyncio.run(keeper())
    assert notices == ["warning: [notify] has 1 URL(s), but apprise is not installed (pip install 'apprise>=1.9', "
                       "or reinstall swarmtui): no alert is sent"]


def test_a_service_that_is_down_gives_one_notice_is_retried_and_says_when_it_works_again():
    from swarmtui.engine.alert_sender import AlertSender
    from swarmtui.engine.alerts import Alert
    from swarmtui.engine.redact import Redactor

    url = dead_url() + "/tok-5e6f7a8b9c"
    port = int(url.split(":")[2].split("/")[0])
    notices: list[tuple[str, str]] = []
    sender = AlertSender([url], redactor=Redactor, notice=lambda level, text: notices.append((level, text)),
                         retry_delays=(0.5, 0.5, 0.5, 0.5, 0.5, 0.5))
    sender.start()
    sender.submit(Alert("needs-user", "swarmtui: node needs you", "body"))
    end = time.monotonic() + 10
    while sender.failed < 2 and time.monotonic() < end:
        time.sleep(0.05)
    assert sender.failed >= 2 and len(notices) == 1          # tried again, said once
    level, text = notices[0]
    assert level == "warning" and text.startswith(f"an alert to json://127.0.0.1:{port}/no…/to… failed: ")
    assert "tok-5e6f" not in text and "\n" not in text and "tried again in 0.5s" in text
    back = Receiver(port=port)                                # the service comes back
    try:
        # The receiver has the body before the sender has read the answer and said so.
        while (not back.raw or len(notices) < 2) and time.monotonic() < end + 5:
            time.sleep(0.05)
        assert [b["title"] for b in back.bodies()] == ["swarmtui: node needs you"]
        assert len(notices) == 2 and notices[1] == ("info", f"alerts to json://127.0.0.1:{port}/no…/to… are delivered again")
    finally:
        sender.close(1.0)
        back.close()
