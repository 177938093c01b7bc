"""engine.config: durations, defaults, every kind of mistake named by file, section and key."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from swarmtui.engine.config import (Config, ConfigError, config_keys, format_duration, load_config,
                                    parse_config, parse_duration, render_default_config)


@pytest.mark.parametrize("text,seconds", [
    ("90s", 90), ("20m", 1200), ("1h", 3600), ("1h30m", 5400), ("500ms", 0.5), ("2d", 172800),
    (" 1h 5m 3s ", 3903), ("45", 45), (30, 30), (2.5, 2.5), ("0", 0), ("1.5h", 5400),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["x", "", "10 minutes", "5q", "m5", "1h-3m", True, None, [1], "-5s", -3, "nan", "inf"])
def test_parse_duration_rejects(bad):
    with pytest.raises(ConfigError):
        parse_duration(bad)


def test_format_duration_round_trips():
    for s in (0, 10, 90, 300, 3600, 5400, 86400, 0.5):
        assert parse_duration(format_duration(s)) == s


def test_defaults_match_the_documented_values():
    c = Config()
    r = c.restart
    assert (r.silence_limit, r.stall_limit, r.startup_grace) == (1200, 1800, 3600)
    assert (r.first_delay, r.backoff_initial, r.backoff_factor, r.backoff_max) == (0, 10, 2, 300)
    assert (r.stable_after, r.budget, r.budget_window, r.startup_failures) == (600, 5, 3600, 3)
    assert (r.stop_timeout, r.term_timeout) == (20, 10)
    assert c.answers == {"testnet": "Y", "swarm": "A", "parameters": "0.5", "hf_push": "N",
                         "model": "", "prediction_market": "Y"}
    assert c.login.keep_login is True             # a restart goes on without a browser (issue 12)
    assert r.give_up_retry == 1800
    assert c.notify.urls == () and c.notify.min_interval == 600 and "needs-user" in c.notify.events
    assert c.hooks.on_event is None and c.hooks.timeout == 30
    assert c.keys == {}
    assert c.source is None


def test_rendered_default_config_parses_back_to_the_defaults(tmp_path):
    text = render_default_config()
    f = tmp_path / "c.toml"
    f.write_text(text)
    cfg = load_config(f)
    assert cfg.source == f
    cfg.source = None
    assert cfg == Config()
    # every documented key appears in the rendered file
    for section, key, _, _ in config_keys():
        assert f"\n{key} = " in text or f"\n# {key} = " in text, (section, key)


def test_a_full_config_is_read(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("""
[restart]
silence_limit = "5m"
backoff_initial = 3
backoff_factor = 1.5
budget = 2
[answers]
hf_push = "y"
parameters = 1.5
model = "Gensyn/Qwen2.5-0.5B-Instruct"
[login]
keep_login = true
[keys]
restart = "ctrl+r"
stop = "s,ctrl+s"
""")
    c = load_config(f)
    assert c.restart.silence_limit == 300 and c.restart.backoff_initial == 3
    assert c.restart.backoff_factor == 1.5 and c.restart.budget == 2
    assert c.restart.stall_limit == 1800          # untouched keys keep their defaults
    assert c.answers["hf_push"] == "y" and c.answers["parameters"] == "1.5"
    assert c.answers["model"] == "Gensyn/Qwen2.5-0.5B-Instruct" and c.answers["testnet"] == "Y"
    assert c.login.keep_login is True
    assert c.keys == {"restart": "ctrl+r", "stop": "s,ctrl+s"}


@pytest.mark.parametrize("body,needle", [
    ('[restart]\nbackoff_max = "x"', "[restart] backoff_max: not a duration: 'x'"),
    ('[restart]\nsilence_limit = "-5m"', "[restart] silence_limit: must not be negative"),
    ('[restart]\nbudget = -1', "[restart] budget: must not be negative"),
    ('[restart]\nbudget = 2.5', "[restart] budget: must be a whole number"),
    ('[restart]\nbudget = "5"', "[restart] budget: must be a number"),
    ('[restart]\nbackoff_factor = 0.5', "[restart] backoff_factor: must be at least 1"),
    ('[restart]\nbogus = 1', "[restart] unknown key 'bogus'"),
    ('[restart]\nbackoff_initial = "10m"\nbackoff_max = "1m"', "[restart] backoff_max: must be at least"),
    ('[nope]\na = 1', "unknown section [nope]"),
    ('restart = 5', "restart: must be a [restart] table"),
    ('[login]\nkeep_login = "yes"', "[login] keep_login: must be true or false"),
    ('[answers]\ntestnet = "maybe"', "[answers] testnet: not an answer the script accepts"),
    ('[answers]\nparameters = 3', "[answers] parameters: not an answer the script accepts"),
    ('[answers]\nmodel = ["a"]', "[answers] model: must be text"),
    ('[answers]\nfoo = "Y"', "[answers] unknown key 'foo'"),
    ('[keys]\nrestart = 5', "[keys] restart: must be a key name"),
    ('[notify]\nurls = "tgram://x/y"', "[notify] urls: must be a list in brackets"),
    ('[notify]\nurls = [""]', "[notify] urls: every item must be non-empty text"),
    ('[notify]\nevents = ["restarts"]', "[notify] events: unknown alert 'restarts' (known: needs-user"),
    ('[notify]\nmin_interval = "soon"', "[notify] min_interval: not a duration"),
    ('[hooks]\non_event = "/bin/true"', "[hooks] on_event: must be a list of words"),
    ('[hooks]\ntimeout = "0s"', "[hooks] timeout: must be at least 1s"),
    ('[restart]\ngive_up_retry = "later"', "[restart] give_up_retry: not a duration"),
    ('[keys]\nrestart = "ctrl r"', "[keys] restart: no spaces"),
    ('[restart\n', "not valid TOML"),
])
def test_mistakes_name_file_section_and_key(tmp_path, body, needle):
    f = tmp_path / "bad.toml"
    f.write_text(body)
    with pytest.raises(ConfigError) as exc:
        load_config(f)
    msg = str(exc.value)
    assert str(f) in msg
    assert needle in msg
    assert "\n" not in msg


def test_non_utf8_file(tmp_path):
    f = tmp_path / "bin.toml"
    f.write_bytes(b"[restart]\nbudget = 3 # \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(f)


def test_missing_explicit_file_is_one_line(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "absent.toml")
    assert str(exc.value) == f"config file not found: {tmp_path / 'absent.toml'}"
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_default_file_is_used_when_present(tmp_path, monkeypatch):
    cfgdir = tmp_path / "cfg"
    monkeypatch.setenv("SWARMTUI_CONFIG_DIR", str(cfgdir))
    assert load_config() == Config()            # no default file: the defaults
    cfgdir.mkdir()
    (cfgdir / "config.toml").write_text('[restart]\nbudget = 9\n')
    c = load_config()
    assert c.restart.budget == 9 and c.source == cfgdir / "config.toml"


def test_parse_config_from_text():
    assert parse_config('[restart]\nstall_limit = "1h"').restart.stall_limit == 3600


def test_engine_never_imports_textual():
    code = ("import sys, swarmtui.engine.config, swarmtui.engine.policy, swarmtui.engine.history, "
            "swarmtui.engine.tail, swarmtui.engine.proctree, swarmtui.engine.launcher, swarmtui.engine.clock; "
            "print([m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_readme_documents_every_key_with_its_default():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    rows = {line for line in readme.splitlines() if line.startswith("| `[")}
    for section, key, default, doc in config_keys():
        assert f"| `[{section}]` | `{key}` | `{default}` | {doc} |" in rows, (section, key)


# ---------------------------------------------------------------- secrets in the config, odd files


def test_a_token_readable_by_others_is_a_warning_with_the_fix(tmp_path):
    f = tmp_path / "config.toml"
    f.write_text('[answers]\nhf_push = "Y"\nhf_token = "hf_abcdefSECRET"\n')
    f.chmod(0o644)
    cfg = load_config(f)
    (warning,) = cfg.warnings
    assert str(f) in warning and "[answers] hf_token" in warning and "0644" in warning
    assert warning.endswith(f"chmod 600 {f}") and "hf_abcdefSECRET" not in warning
    assert f.stat().st_mode & 0o777 == 0o644                     # said, never changed for the person
    f.chmod(0o600)
    assert load_config(f).warnings == []
    f.chmod(0o644)
    f.write_text('[answers]\nhf_push = "N"\n')                  # no secret in it: any mode is fine
    assert load_config(f).warnings == []


def test_a_fifo_config_is_one_line_not_a_hang(tmp_path):
    f = tmp_path / "config.toml"
    os.mkfifo(f)
    box = {}

    def load():
        try:
            load_config(f)
        except ConfigError as exc:
            box["error"] = str(exc)

    t = threading.Thread(target=load, daemon=True)
    t.start()
    t.join(1.0)
    assert not t.is_alive(), "load_config blocked on a FIFO"
    assert "FIFO" in box["error"] and str(f) in box["error"] and "\n" not in box["error"]
    link = tmp_path / "zero.toml"
    link.symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match="character device"):
        load_config(link)


def test_a_config_linked_from_elsewhere_is_read(tmp_path):
    real = tmp_path / "dotfiles" / "swarmtui.toml"
    real.parent.mkdir()
    real.write_text('[restart]\nbudget = 7\n')
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    assert load_config(link).restart.budget == 7


def test_notify_hooks_and_give_up_retry_are_read(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[notify]\nurls = ["json://127.0.0.1:9/a", "ntfy://ntfy.sh/topic"]\nevents = ["needs-user", "recovered"]\n'
                 'min_interval = "2m"\n[hooks]\non_event = ["/usr/bin/logger", "-t", "swarm"]\ntimeout = "5s"\n'
                 '[restart]\ngive_up_retry = 0\n')
    f.chmod(0o600)
    c = load_config(f)
    assert c.notify.urls == ("json://127.0.0.1:9/a", "ntfy://ntfy.sh/topic")
    assert c.notify.events == ("needs-user", "recovered") and c.notify.min_interval == 120
    assert c.hooks.on_event == ("/usr/bin/logger", "-t", "swarm") and c.hooks.timeout == 5
    assert c.restart.give_up_retry == 0 and c.warnings == []


def test_notify_urls_readable_by_others_are_a_warning_without_the_token(tmp_path):
    f = tmp_path / "config.toml"
    f.write_text('[notify]\nurls = ["tgram://123456:SECRETTOKEN/42"]\n')
    f.chmod(0o644)
    (warning,) = load_config(f).warnings
    assert "[notify] urls" in warning and warning.endswith(f"chmod 600 {f}") and "SECRETTOKEN" not in warning
