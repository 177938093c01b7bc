"""engine.hooks: the person's own program per event, as a real process: the event's JSON on its
stdin, its output in hooks.log, killed (with its children) after the timeout, one notice per
run of failures, secrets scrubbed, never a shell."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from swarmtui.engine.hooks import HookRunner
from swarmtui.engine.redact import Redactor
from tests.procs import running

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics")

EVENT = {"event": "state", "ts": "2026-01-01T00:00:00.000Z", "state": "needs-user", "reason": "oom-killed",
         "detail": "gave up; org org-PLANTED-42a"}


def hook(tmp_path: Path, code: str, timeout: float = 10.0, **kw) -> tuple[HookRunner, list]:
    script = tmp_path / "hook.py"
    script.write_text(code)
    notices: list[tuple[str, str]] = []
    runner = HookRunner([sys.executable, str(script), "an arg; $(not a shell)"], timeout=timeout,
                        log_path=tmp_path / "state" / "hooks.log", node=tmp_path / "node",
                        notice=lambda level, text: notices.append((level, text)), **kw)
    return runner, notices


def test_the_event_json_goes_to_stdin_and_the_output_to_hooks_log(tmp_path):
    out = tmp_path / "got.json"
    runner, notices = hook(tmp_path, f"""
import json, os, sys
data = json.load(sys.stdin)
open({str(out)!r}, "w").write(json.dumps({{"data": data, "argv": sys.argv[1:],
    "kind": os.environ["SWARMTUI_EVENT"], "node": os.environ["SWARMTUI_NODE"],
    "urls": os.environ.get("SWARMTUI_NOTIFY_URLS")}}))
print("hook saw", data["state"])
print("to stderr", file=sys.stderr)
""", scrub=Redactor(["org-PLANTED-42a"]).scrub, env=dict(os.environ, SWARMTUI_NOTIFY_URLS="tgram://SECRET/1"))
    assert runner.run_one(dict(EVENT)) is None
    got = json.loads(out.read_text())
    assert got["data"]["state"] == "needs-user" and got["kind"] == "state"
    assert got["argv"] == ["an arg; $(not a shell)"]                     # one word, no shell
    assert got["node"] == str(tmp_path / "node") and got["urls"] is None
    assert "org-PLANTED-42a" not in json.dumps(got["data"]) and "[hidden]" in got["data"]["detail"]
    log = (tmp_path / "state" / "hooks.log")
    text = log.read_text()
    assert "hook saw needs-user" in text and "to stderr" in text and "=== exit 0 after " in text
    assert log.stat().st_mode & 0o777 == 0o600 and (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    assert notices == []


def test_a_failing_hook_gives_one_notice_until_it_works_again(tmp_path):
    flag = tmp_path / "fail"
    flag.write_text("1")
    runner, notices = hook(tmp_path, f"""
import os, sys
sys.stdin.read()
sys.exit(3 if os.path.exists({str(flag)!r}) else 0)
""")
    for _ in range(3):
        assert "exited with status 3" in runner.run_one(dict(EVENT))
    assert len(notices) == 1 and notices[0][0] == "warning" and "hooks.log" in notices[0][1]
    flag.unlink()
    assert runner.run_one(dict(EVENT)) is None
    assert len(notices) == 2 and "works again" in notices[1][1]


def test_a_hook_past_its_timeout_is_killed_with_its_children(tmp_path):
    pidfile = tmp_path / "child.pid"
    runner, notices = hook(tmp_path, f"""
import subprocess, sys, time
child = subprocess.Popen(["sleep", "300"])
open({str(pidfile)!r}, "w").write(str(child.pid))
time.sleep(300)
""", timeout=1.0)
    t0 = time.monotonic()
    why = runner.run_one(dict(EVENT))
    took = time.monotonic() - t0
    assert "still ran after 1s and was killed" in why and took < 8
    child = int(pidfile.read_text())
    end = time.monotonic() + 5              # SIGKILL is sent; a loaded machine runs the death a moment later
    while running(child):
        assert time.monotonic() < end, "the hook's child outlived it"
        time.sleep(0.05)
    assert "killed" in (tmp_path / "state" / "hooks.log").read_text() and len(notices) == 1


def test_a_hook_that_cannot_start_is_one_line_and_the_worker_goes_on(tmp_path):
    notices: list = []
    runner = HookRunner([str(tmp_path / "missing-script")], timeout=5, log_path=tmp_path / "hooks.log",
                        node=tmp_path, notice=lambda level, text: notices.append(text))
    runner.start()
    for _ in range(3):
        runner.submit(dict(EVENT))
    runner.close(timeout=10)
    assert runner.failures == 3 and len(notices) == 1
    assert "cannot run" in notices[0] and "\n" not in notices[0]


def test_a_planted_link_at_hooks_log_is_refused_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    (tmp_path / "state").mkdir(mode=0o700)
    (tmp_path / "state" / "hooks.log").symlink_to(victim)
    runner, notices = hook(tmp_path, "import sys; sys.stdin.read(); print('x')")
    runner.start()
    runner.submit(dict(EVENT))
    runner.close(timeout=10)
    assert victim.read_text() == "untouched\n"
    assert len(notices) == 1 and "symbolic link" in notices[0][1]
