"""What blocks a start, what is swept before it, and prompts no rule knows (with a token that
must never leak)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap

import pytest

from swarmtui.engine import events as ev
from swarmtui.engine.history import HistoryStore
from swarmtui.engine.proctree import RUN_ID_ENV
from supervisor_support import Harness, fast_config

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(90)]

HOLDER = textwrap.dedent("""\
    import socket, sys, time
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen()
    print("ready", flush=True)
    time.sleep(120)
    """)
SLEEPER = f"#!{sys.executable}\nimport time\ntime.sleep(120)\n"


@pytest.fixture
async def harness(tmp_path):
    made: list[Harness] = []
    strangers: list[subprocess.Popen] = []

    def make(*args, **kw) -> Harness:
        h = Harness(tmp_path, *args, name=f"node{len(made)}", **kw)
        made.append(h)
        return h

    make.strangers = strangers
    yield make
    for h in made:
        await h.close()
    for p in strangers:
        p.kill()
        p.wait()
    for h in made:
        assert h.leftovers() == []


def stranger(make, argv, **kw) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != RUN_ID_ENV}
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, **kw)
    make.strangers.append(p)
    return p


async def test_a_port_held_by_a_stranger_blocks_the_start_and_is_never_killed(harness, tmp_path):
    h = harness("codezero", "healthy")
    holder = stranger(harness, [sys.executable, "-c", HOLDER, str(h.port)], cwd=tmp_path)
    assert holder.stdout.readline().strip() == b"ready"
    await h.sup.start()
    st = await h.wait_state(ev.NEEDS_USER)
    assert st.reason == "preflight" and f"port {h.port} is held by another process" in st.detail
    problems = h.of(ev.PreflightFailed)[0].problems
    assert str(holder.pid) in problems[0]
    assert h.sup._run is None, "the node was launched anyway"
    await h.close()
    assert holder.poll() is None, "a process that is not ours was killed"


async def test_a_broken_swarm_pem_blocks_the_start_with_the_fix(harness):
    h = harness("codezero", "healthy")
    pem = h.root / "swarm.pem"
    pem.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    await h.sup.start()
    st = await h.wait_state(ev.NEEDS_USER)
    assert "not hivemind's libp2p key" in st.detail and "fix: restore the original swarm.pem" in st.detail
    assert h.sup._run is None
    assert pem.read_bytes().startswith(b"-----BEGIN"), "never touch the identity"


def _earlier_keeper(root, *, ended: bool) -> str:
    """keeper.json as an earlier keeper of `root` left it: its run id, and whether it ended
    cleanly (a clean keeper whose stop left something alive) or died without a word."""
    from swarmtui.engine.keeper import KeeperState, STATE_FILE
    from swarmtui.engine.proctree import make_run_id
    from swarmtui.paths import node_state_dir

    run_id = make_run_id(root)
    state = KeeperState(pid=999999, start=1.0, kind="supervise", since="2026-12-01T10:00:00Z", run_id=run_id,
                        checkout=str(root), run=3, run_started="2026-12-01T10:00:05Z",
                        ended="2026-12-01T11:00:00Z" if ended else None)
    d = node_state_dir(root)
    d.mkdir(parents=True, exist_ok=True)
    from dataclasses import asdict
    (d / STATE_FILE).write_text(json.dumps(asdict(state)))
    return run_id


async def test_leftovers_of_ours_are_swept_before_the_start_and_recorded(harness, tmp_path):
    h = harness("codezero", "healthy")
    fake = tmp_path / "bin" / "p2pd"
    fake.parent.mkdir()
    fake.write_text(SLEEPER)
    fake.chmod(0o755)
    # A p2pd an earlier keeper of this checkout launched (its recorded run id) and left behind.
    run_id = _earlier_keeper(h.root, ended=True)
    orphan = stranger(harness, [str(fake), "-listen=/unix/tmp/hivemind-p2pd-x.sock", f"-id={h.root}/swarm.pem"],
                      start_new_session=True)
    marked = subprocess.Popen([str(fake), "-listen=/unix/tmp/hivemind-p2pd-y.sock", f"-id={h.root}/swarm.pem"],
                              env={**os.environ, RUN_ID_ENV: run_id}, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    harness.strangers.append(marked)
    await asyncio.sleep(0.3)
    await h.sup.start()
    killed = await h.wait_kind(ev.OrphanKilled, pid=marked.pid)
    assert killed.proof == "marker-earlier-keeper"
    assert any(d.id == "orphan" and str(fake) in d.text for d in h.of(ev.Detected))
    rec = [e.record for e in h.of(ev.HistoryAppended) if e.record["reason"] == "orphan"][0]
    assert [o["pid"] for o in rec["orphans_killed"]] == [marked.pid]
    assert HistoryStore(h.root).read()[0]["reason"] == "orphan"
    await h.wait_state(ev.RUNNING)
    assert marked.wait(5) is not None
    # the one without the marker only shares our -id=: any node of this checkout has that
    assert orphan.poll() is None, "a p2pd proven by its -id= alone was killed"
    assert not any(e.pid == orphan.pid for e in h.of(ev.OrphanKilled))


async def test_a_keeper_that_died_is_recorded_and_its_leftovers_swept(harness, tmp_path):
    h = harness("codezero", "healthy")
    fake = tmp_path / "bin" / "p2pd"
    fake.parent.mkdir()
    fake.write_text(SLEEPER)
    fake.chmod(0o755)
    run_id = _earlier_keeper(h.root, ended=False)
    marked = subprocess.Popen([str(fake), f"-id={h.root}/swarm.pem"], env={**os.environ, RUN_ID_ENV: run_id},
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    harness.strangers.append(marked)
    await asyncio.sleep(0.3)
    await h.sup.start()
    rec = [e.record for e in h.of(ev.HistoryAppended) if e.record["reason"] == "keeper-lost"]
    assert len(rec) == 1, [e.record for e in h.of(ev.HistoryAppended)]
    assert rec[0]["run"] == 3 and "pid 999999" in rec[0]["text"] and "1 leftover process(es) of ours swept" in rec[0]["text"]
    assert [o["pid"] for o in rec[0]["orphans_killed"]] == [marked.pid]
    assert any(n.level == "warning" and "ended without stopping run 3" in n.text for n in h.of(ev.Notice))
    assert marked.wait(5) is not None
    assert not [e for e in h.of(ev.HistoryAppended) if e.record["reason"] == "orphan"], "swept twice"
    await h.wait_state(ev.RUNNING)
    # said once: the next keeper, after this one closed cleanly, has nothing to say
    await h.close()
    from swarmtui.engine.supervisor import Supervisor

    events: list = []
    again = Supervisor(h.root, h.config, events.append, env=h.sup.env)
    try:
        await again.start()
        assert not [e for e in events if isinstance(e, ev.HistoryAppended) and e.record["reason"] == "keeper-lost"]
    finally:
        await again.close()


async def test_a_second_keeper_on_the_checkout_touches_nothing(harness):
    from swarmtui.engine.keeper import KeeperBusy
    from swarmtui.engine.supervisor import Supervisor

    h = harness("codezero", "healthy")
    await h.sup.start()
    await h.wait_state(ev.RUNNING)
    before = {(p.pid, p.create_time()) for p in h.leftovers()}
    events: list = []
    second = Supervisor(h.root, h.config, events.append, env=h.sup.env)
    with pytest.raises(KeeperBusy, match=r"already kept by swarmtui supervise \(pid %d" % os.getpid()):
        await second.start()
    second.emergency_kill()          # what `supervise` runs on its way out: must be a no-op here
    await second.close()
    await asyncio.sleep(1.0)
    assert {(p.pid, p.create_time()) for p in h.leftovers()} >= before
    assert not [e for e in events if isinstance(e, (ev.OrphanKilled, ev.StopStep))]
    assert h.sup.state == ev.RUNNING


async def test_a_node_run_by_hand_blocks_the_start_and_is_left_alone(harness):
    h = harness("codezero", "healthy")
    by_hand = stranger(harness, ["bash", "-c", "sleep 120; : run_rl_swarm.sh", "run_rl_swarm.sh"], cwd=h.root)
    # bash -c's $0 is run_rl_swarm.sh: the command line reads like the script, cwd is the checkout
    await asyncio.sleep(0.2)
    await h.sup.start()
    st = await h.wait_state(ev.NEEDS_USER)
    assert "already runs outside swarmtui" in st.detail and str(by_hand.pid) in st.detail
    assert h.sup._run is None
    assert by_hand.poll() is None


def add_prompt(root) -> None:
    """A fork of the script that asks one more question before it launches the trainer."""
    script = root / "run_rl_swarm.sh"
    text = script.read_text()
    launch = text.index("python -m code_gen_exp.runner.swarm_launcher")
    extra = 'read -p ">> Pick a colour for your node: " COLOUR\necho ">> Colour is $COLOUR"\n\n'
    script.write_text(text[:launch] + extra + text[launch:])


async def test_an_unknown_prompt_headless_needs_the_user(harness):
    h = harness("codezero", "healthy", edit=add_prompt)
    await h.sup.start()
    st = await h.wait_state(ev.NEEDS_USER)
    assert st.reason == "unknown-prompt" and "Pick a colour for your node:" in st.detail
    seen = [p for p in h.of(ev.PromptSeen) if "colour" in p.text]
    assert seen and seen[0].answered is False
    await asyncio.sleep(0.5)
    assert h.sup._run.launcher.returncode is None and "Colour is" not in h.text()


async def test_an_unknown_prompt_is_answered_by_the_person(harness):
    h = harness("codezero", "healthy", edit=add_prompt, interactive=True)
    await h.sup.start()
    seen = await h.wait_for(lambda e: isinstance(e, ev.PromptSeen) and "colour" in e.text)
    assert seen.answered is False and h.sup.state != ev.NEEDS_USER
    h.sup.send(ev.AnswerPrompt(text="teal"))
    done = h.of(ev.ActionDone)[-1]
    assert done.action == "answer" and done.ok and "teal" not in done.detail
    await h.wait_for(lambda e: isinstance(e, ev.LinesOut) and any(">> Colour is teal" in ln.text for ln in e.lines))
    await h.wait_state(ev.RUNNING)


async def test_a_typed_token_never_reaches_events_history_or_transcript(harness):
    token = "hf_SwarmtuiTestToken0123456789"
    cfg = fast_config()
    cfg.answers["hf_push"] = "Y"              # and no hf_token in the config: the person types it
    h = harness("codezero", "healthy", config=cfg, interactive=True)
    await h.sup.start()
    ask = await h.wait_for(lambda e: isinstance(e, ev.PromptSeen) and "access token" in e.text)
    assert ask.secret and not ask.answered
    h.sup.send(ev.AnswerPrompt(text=token, secret=True))
    await h.wait_state(ev.RUNNING)
    h.sup.send(ev.StopNode())
    await h.wait_state(ev.STOPPED)
    everything = "\n".join(json.dumps(e.to_dict()) for e in h.events)
    assert token not in everything
    state = HistoryStore(h.root).dir
    for path in state.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), f"the token is in {path}"
    assert (state / "runs" / "run-000001.log").stat().st_size > 1000
