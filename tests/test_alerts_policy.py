"""engine.alerts, engine.redact and the login hint: which events become which alerts and when,
their words, what is scrubbed, what is masked. No network here (tests/test_alerts_delivery.py
sends through a real receiver); time is a FakeClock."""

from __future__ import annotations

import base64

from swarmtui.engine import events as ev
from swarmtui.engine.alerts import AlertPolicy
from swarmtui.engine.clock import FakeClock
from swarmtui.engine.login import localize_hint, login_hint, login_hint_note
from swarmtui.engine.redact import MASK, Redactor, mask_url, pem_secrets, url_secrets

ALL = ("needs-user", "login-required", "crash-loop", "restart", "recovered", "stalled", "identity-changed",
       "keeper-lost")
IDENTITY = ev.IdentityChanged(report={"pem_state": "ok", "peer_id": "QmPeerOne", "animal_name": "dormant toothy bat"})


def policy(clock: FakeClock, kinds=ALL, min_interval=600.0, stable_after=600.0) -> AlertPolicy:
    p = AlertPolicy(checkout="/home/op/rl-swarm", kinds=kinds, min_interval=min_interval, stable_after=stable_after,
                    clock=clock, host="gpu-box")
    assert p.observe(IDENTITY) == []                # the first identity is the baseline, no news
    return p


def needs_user(reason="oom-killed", detail=None, retry=1800.0) -> ev.StateChanged:
    hint = "the trainer ran out of memory"
    detail = detail or (f"3 identical failures in a row ({reason}), each within 10m of starting: restarting again "
                        f"would loop; {hint}; swarmtui tries again in 30m (or start it now)")
    return ev.StateChanged(state=ev.NEEDS_USER, reason=reason, detail=detail, next_restart_in=retry)


def test_a_crash_loop_alert_names_the_node_the_cause_the_next_step_and_the_host():
    clock = FakeClock()
    p = policy(clock)
    (alert,) = p.observe(needs_user())
    assert alert.kind == "crash-loop"
    assert alert.title == "swarmtui: rl-swarm (dormant toothy bat) keeps failing (oom-killed), gave up"
    lines = alert.body.splitlines()
    assert lines[0].startswith("rl-swarm (dormant toothy bat): ")
    assert lines[1].startswith("What happened: 3 identical failures in a row (oom-killed)")
    assert "tries again in 30m (about " in lines[2] and "UTC" in lines[2]
    assert lines[3].startswith("Hint: ") and "OOM" in lines[3]        # the catalogue's hint for oom-killed
    assert lines[4].startswith("Host: gpu-box, ")
    assert "swarmtui tries again" not in lines[1]                      # said once, in its own line


def test_a_cause_only_a_person_can_fix_says_so_and_promises_no_retry():
    p = policy(FakeClock())
    (alert,) = p.observe(ev.StateChanged(state=ev.NEEDS_USER, reason="unknown-prompt",
                                         detail="the script asks 'Token?' and no [answers] rule knows it"))
    assert alert.kind == "needs-user" and "needs you (unknown-prompt)" in alert.title
    assert "will not start the node again by itself" in alert.body and "tries again" not in alert.body
    assert "swarmtui attach /home/op/rl-swarm" in alert.body


def test_restarts_within_min_interval_become_one_message_with_counts():
    clock = FakeClock()
    p = policy(clock, min_interval=600)
    out = []
    for reason in ("oom-killed", "cuda-oom", "oom-killed", "oom-killed", "dht-ipc-error"):
        out += p.observe(ev.RestartScheduled(reason=reason, attempt=1, delay_s=10))
        clock.advance(10)
    out += p.observe(ev.StateChanged(state=ev.RUNNING))
    assert out == [] and p.due() == 1000.0 + 600
    clock.advance(p.due() - clock.monotonic() - 1)
    assert p.tick() == []
    clock.advance(1)
    (alert,) = p.tick()
    assert alert.kind == "restart" and "5 restarts in 1m" in alert.title
    assert "oom-killed ×3, cuda-oom ×1, dht-ipc-error ×1" in alert.body
    assert "it runs again" in alert.body
    clock.advance(3600)
    assert [a.kind for a in p.tick()] == ["recovered"]          # it alerted, and has run past stable_after


def test_restarts_that_end_in_a_give_up_are_told_in_that_one_alert():
    clock = FakeClock()
    p = policy(clock)
    for _ in range(3):
        assert p.observe(ev.RestartScheduled(reason="oom-killed", attempt=1, delay_s=10)) == []
        clock.advance(5)
    (alert,) = p.observe(needs_user())
    assert "(after 3 restarts in 1m: oom-killed ×3)" in alert.body
    clock.advance(601)
    assert p.tick() == []                       # nothing left over: no second, separate restart alert


def test_a_kind_repeated_within_min_interval_is_held_and_sent_once_at_its_end():
    clock = FakeClock()
    p = policy(clock, min_interval=600)
    assert len(p.observe(needs_user(reason="p2pd-startup-timeout"))) == 1
    clock.advance(60)
    assert p.observe(needs_user(reason="p2pd-bootstrap-failed")) == []
    clock.advance(60)
    assert p.observe(needs_user(reason="testnet-unreachable")) == []
    clock.advance(480)
    (held,) = p.tick()
    assert held.body.startswith("(2 crash-loop alerts in the last 10m were held back; the latest:)")
    assert "testnet-unreachable" in held.body


def test_recovered_follows_only_a_node_that_alerted_and_only_after_stable_after():
    clock = FakeClock()
    quiet = policy(clock)
    quiet.observe(ev.StateChanged(state=ev.RUNNING))
    clock.advance(3600)
    assert quiet.tick() == [] and quiet.due() is None

    p = policy(clock, stable_after=600)
    assert len(p.observe(ev.Detected(id="silence", cls="hang", action="restart", source="engine", line=0,
                                     text="no output at all for 20m"))) == 1
    p.observe(ev.StateChanged(state=ev.RUNNING))
    clock.advance(300)
    p.observe(ev.StateChanged(state=ev.BACKOFF, next_restart_in=10))   # not healthy: the clock starts over
    p.observe(ev.StateChanged(state=ev.RUNNING))
    clock.advance(599)
    assert p.tick() == []
    clock.advance(1)
    (alert,) = p.tick()
    assert alert.kind == "recovered" and "healthy again" in alert.title and "running for 10m" in alert.body
    clock.advance(3600)
    assert p.tick() == []                       # once


def test_login_identity_stall_and_lost_keeper_alerts():
    clock = FakeClock()
    p = policy(clock, min_interval=0)
    p.observe(ev.StateChanged(state=ev.LOGIN_REQUIRED))
    assert p.observe(ev.LoginRequired(url="http://localhost:3001", waiting_for="key activation",
                                      ssh_hint="ssh -L 3001:localhost:3001 -p 2222 op@203.0.113.7")) == []
    clock.advance(59)
    assert p.tick() == []                       # a login done within a minute is nobody's news
    clock.advance(1)
    (login,) = p.tick()
    assert "has waited 1m for key activation" in login.body
    assert "http://localhost:3001" in login.body and "ssh -L 3001:localhost:3001 -p 2222 op@203.0.113.7" in login.body
    (ident,) = p.observe(ev.IdentityChanged(report={"pem_state": "ok", "peer_id": "QmPeerTwo",
                                                    "animal_name": "swift green owl"}))
    assert ident.kind == "identity-changed" and "QmPeerTwo" in ident.body and "QmPeerOne" in ident.body
    (gone,) = p.observe(ev.IdentityChanged(report={"pem_state": "missing"}))
    assert "NEW identity" in gone.body and "QmPeerTwo" in gone.body
    assert p.observe(ev.IdentityChanged(report={"pem_state": "missing", "login": {}})) == []   # said once
    assert p.observe(ev.IdentityChanged(report={"pem_state": "ok", "peer_id": "QmPeerTwo"})) == []  # put back
    p.observe(ev.IdentityChanged(report={"pem_state": "missing"}))
    (made,) = p.observe(ev.IdentityChanged(report={"pem_state": "ok", "peer_id": "QmPeerNew"}))
    assert "QmPeerNew" in made.body and "has a new identity" in made.title
    (stall,) = p.observe(ev.Detected(id="stalled", cls="hang", action="restart", source="engine", line=0,
                                     text="no round progress for 30m", hint="look at the swarm's status"))
    assert "no round progress for 30m" in stall.body and "restarting the node now" in stall.body
    (lost,) = p.observe(ev.HistoryAppended(record={"reason": "keeper-lost", "text": "the keeper (pid 7) ended"}))
    assert lost.kind == "keeper-lost" and "the keeper (pid 7) ended" in lost.body
    assert p.observe(ev.RestartScheduled(reason="manual", attempt=0, delay_s=0)) == []   # yours: no news


def test_only_the_listed_kinds_are_sent_and_crash_loop_follows_needs_user():
    p = policy(FakeClock(), kinds=("needs-user",), min_interval=0)
    assert [a.kind for a in p.observe(needs_user())] == ["crash-loop"]
    assert p.observe(ev.LoginRequired(url="u", ssh_hint="s", waiting_for="w")) == []
    p2 = policy(FakeClock(), kinds=("recovered",), min_interval=0)
    assert p2.observe(needs_user()) == []


# ---------------------------------------------------------------- redaction and masking


def test_known_values_and_secret_shapes_are_scrubbed_and_the_ssh_target_is_kept():
    r = Redactor(["org-PLANTED-7f3a9c", "0xAbCdEf0123456789aBcDeF0123456789AbCdEf01"],
                 allow=["ubuntu@gpu.example.com"])
    text = ("org org-PLANTED-7f3a9c eoa 0xabcdef0123456789abcdef0123456789abcdef01 mail Some.One@example.org "
            "key " + "ab" * 32 + " hf hf_AbCdEf123456 ssh ubuntu@gpu.example.com")
    out = r(text)
    for gone in ("org-PLANTED", "0xabcdef", "Some.One", "abab", "hf_AbCd"):
        assert gone not in out
    assert out.count(MASK) == 5 and "ubuntu@gpu.example.com" in out
    assert r.scrub({"a": ["x org-PLANTED-7f3a9c"], "n": 3}) == {"a": [f"x {MASK}"], "n": 3}


def test_pem_bytes_are_known_in_their_text_forms(tmp_path):
    pem = tmp_path / "swarm.pem"
    raw = bytes(range(256)) * 4
    pem.write_bytes(raw)
    secrets = pem_secrets(pem)
    assert base64.b64encode(raw).decode() in secrets and raw.hex() in secrets
    assert MASK in Redactor(secrets)(f"dump: {base64.b64encode(raw).decode()}")


def test_urls_are_masked_where_a_token_can_be():
    assert mask_url("tgram://123456789:ABCdefGHIjkl/987654321") == "tgram://12…/98…"
    assert mask_url("json://127.0.0.1:8080/hook/s3cr3t-path?x=1") == "json://127.0.0.1:8080/ho…/s3…?…"
    assert mask_url("ntfys://user:pass@ntfy.example.com/my-topic") == "ntfys://us…:pa…@ntfy.example.com/my…"
    assert mask_url("discord://1234567890/AbCdEfGhIjKlMn") == "discord://12…/Ab…"
    assert "ABCdefGHIjkl" in url_secrets("tgram://123456789:ABCdefGHIjkl/987654321")


# ---------------------------------------------------------------- login hints


def test_the_tunnel_hint_uses_the_address_and_port_ssh_reached_and_the_login_port():
    env = {"SSH_CONNECTION": "198.51.100.2 51234 203.0.113.7 2222", "USER": "ubuntu"}
    assert login_hint(3001, env) == ("http://localhost:3001", "ssh -L 3001:localhost:3001 -p 2222 ubuntu@203.0.113.7")
    env22 = {"SSH_CONNECTION": "198.51.100.2 51234 203.0.113.7 22", "USER": "ubuntu"}
    assert login_hint(3000, env22)[1] == "ssh -L 3000:localhost:3000 ubuntu@203.0.113.7"
    assert login_hint_note(env) == ""
    url, hint = login_hint(3000, {"USER": "ubuntu"})
    assert hint.startswith("ssh -L 3000:localhost:3000 ubuntu@") and "-p" not in hint
    assert "this machine's name" in login_hint_note({"USER": "ubuntu"})
    bad = {"SSH_CONNECTION": "1.2.3.4 5 $(rm -rf /) 22", "USER": "ubuntu"}
    assert "rm" not in login_hint(3000, bad)[1]             # a strange value is not taken as an address


def test_catalogue_hints_name_the_real_port_and_the_working_tunnel():
    hint = "log in at http://localhost:3000; on a server first run `ssh -L 3000:localhost:3000 HOST`"
    out = localize_hint(hint, 3005, "ssh -L 3005:localhost:3005 op@203.0.113.7")
    assert out == "log in at http://localhost:3005; on a server first run `ssh -L 3005:localhost:3005 op@203.0.113.7`"
    assert "3000" not in localize_hint("the login server's port (3000)", 3005, "x")


def test_a_login_finished_within_a_minute_sends_nothing():
    clock = FakeClock()
    p = policy(clock, min_interval=0)
    p.observe(ev.StateChanged(state=ev.LOGIN_REQUIRED))
    p.observe(ev.LoginRequired(url="http://localhost:3000", ssh_hint="ssh", waiting_for="userData.json"))
    clock.advance(30)
    p.observe(ev.StateChanged(state=ev.STARTING, reason="logged-in"))
    clock.advance(3600)
    assert p.tick() == [] and p.due() is None


def test_login_file_values_are_secrets_but_their_field_names_are_words(tmp_path):
    from swarmtui.engine.redact import login_file_secrets

    data = tmp_path / "userData.json"
    data.write_text('{"org-PLANTED-9": {"userId": "user-PLANTED-9", "orgId": "org-PLANTED-9", '
                    '"address": "0x' + "c" * 40 + '", "email": "p@example.org"}}')
    r = Redactor(login_file_secrets([data]))
    out = r("the EOA address and email of org org-PLANTED-9, user user-PLANTED-9")
    assert out == f"the EOA address and email of org {MASK}, user {MASK}"
