"""swarmtui's TOML config: restart limits, prompt answers, login keeping, the panel's keymap.

One table (_SCHEMA) describes every key: its type, default, bounds and the line of help that
render_default_config() prints, so the README, `--help` and the validator cannot drift apart.
Every mistake becomes a ConfigError naming the file, the section and the key.
"""

from __future__ import annotations

import math
import re
import stat
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from swarmtui.errors import UserError
from swarmtui.safefile import UnsafeFileError, kind_of, read_regular_stat

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class ConfigError(UserError, ValueError):
    """A config file or value swarmtui cannot use; the message is one line and names the key."""

    def __init__(self, message: str):
        super().__init__(message, exit_code=2)


# ---------------------------------------------------------------- value parsers

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")


def parse_duration(value: Any) -> float:
    """"90s", "20m", "1h", "1h30m", "500ms", "2d", or a plain number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ConfigError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if text.startswith("-"):
            raise ConfigError(f"must not be negative: {value!r}")
        try:
            seconds = float(text)
        except ValueError:
            pos, seconds = 0, 0.0
            compact = text.replace(" ", "")
            for m in _DURATION_PART.finditer(compact):
                if m.start() != pos:
                    break
                seconds += float(m.group(1)) * _UNITS[m.group(2)]
                pos = m.end()
            if pos != len(compact) or not compact:
                raise ConfigError(f"not a duration: {value!r} (use e.g. \"90s\", \"20m\", \"1h30m\")") from None
    else:
        raise ConfigError(f"not a duration: {value!r}")
    if math.isnan(seconds) or math.isinf(seconds):
        raise ConfigError(f"not a duration: {value!r}")
    if seconds < 0:
        raise ConfigError(f"must not be negative: {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The inverse of parse_duration for round values: 3600 -> "1h", 5400 -> "1h30m"."""
    if seconds == 0:
        return "0s"
    if seconds != int(seconds):
        return f"{seconds:g}s"
    s = int(seconds)
    out = ""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            out += f"{s // size}{unit}"
            s %= size
    return out


# ---------------------------------------------------------------- the schema

# The alerts [notify] events may name (engine.alerts builds them from the keeper's events).
ALERT_KINDS = ("needs-user", "login-required", "crash-loop", "restart", "recovered", "stalled",
               "identity-changed", "keeper-lost")


@dataclass(frozen=True)
class _Key:
    name: str
    kind: str               # duration, int, float, bool, str
    default: Any            # as written in TOML (durations as text)
    doc: str
    minimum: float | None = 0
    pattern: str | None = None   # for answers: what the script accepts
    example: str | None = None   # documented but absent by default (commented out)


_SCHEMA: dict[str, tuple[str, list[_Key]]] = {
    "restart": ("When and how swarmtui restarts the node", [
        _Key("silence_limit", "duration", "20m",
             "restart when the node prints nothing at all (terminal and log files) for this long; 0 = never"),
        _Key("stall_limit", "duration", "30m",
             "restart when no round or stage advances for this long, once the start-up grace is over; 0 = never"),
        _Key("startup_grace", "duration", "60m",
             "time after a start before the stall timer applies (installs, model download, login)"),
        _Key("first_delay", "duration", "0s",
             "delay before the first restart after a failure (0 = at once), once the stop left nothing of ours "
             "and the login port free; a stop that did not waits backoff_initial"),
        _Key("backoff_initial", "duration", "10s", "delay before the second restart in a row"),
        _Key("backoff_factor", "float", 2.0, "each further restart in a row waits this many times longer", minimum=1),
        _Key("backoff_max", "duration", "5m", "the longest delay between restarts"),
        _Key("stable_after", "duration", "10m",
             "a run that lasts this long counts as healthy: the backoff and the crash-loop count start over"),
        _Key("budget", "int", 5, "at most this many automatic restarts per budget_window, then wait for you"),
        _Key("budget_window", "duration", "1h", "the window the budget counts restarts in", minimum=1),
        _Key("startup_failures", "int", 3,
             "this many identical failures in a row, each before stable_after: stop and show the hint", minimum=1),
        _Key("warn_repeat", "int", 5,
             "a 'degraded' warning (e.g. 'Error occurred during training, continuing') this many times "
             "within warn_window restarts the node", minimum=1),
        _Key("warn_window", "duration", "1h", "the window warn_repeat counts in", minimum=1),
        _Key("exit_grace", "duration", "5s",
             "after a fatal line the node is usually dying by itself: let the script exit (and run its own "
             "clean-up) for this long before the stop sequence starts; it ends sooner once the trainer is gone "
             "and the script only waits on its login server"),
        _Key("stop_timeout", "duration", "20s",
             "stopping: wait this long after SIGINT for the script's own clean-up, before SIGTERM"),
        _Key("term_timeout", "duration", "10s", "stopping: wait this long after SIGTERM, before SIGKILL"),
        _Key("give_up_retry", "duration", "30m",
             "after giving up (needs-user) on a cause that can clear by itself (a crash loop, p2pd start-up "
             "timeouts, the login port held by another program, a full disk, network errors) try again after "
             "this long, doubling each time up to 6h; causes only you can fix are never retried; 0 = never"),
    ]),
    "watch": ("How the node is watched", [
        _Key("snapshot_interval", "duration", "2s",
             "how often the process tree (CPU, memory) is refreshed; ports, conflicts and a full re-read of "
             "/proc every 30 s", minimum=0.1),
        _Key("min_free_disk_mb", "int", 500, "refuse to start with less free disk than this in the checkout; warn during a run when the checkout's or the state dir's disk drops below it"),
    ]),
    "keeper": ("The keeper that panels attach to (swarmtui start, supervise)", [
        _Key("backlog_lines", "int", 5000,
             "the last this many log lines are kept in memory and shown to a panel that attaches", minimum=0),
    ]),
    "metrics": ("A Prometheus /metrics endpoint on every keeper (states, restarts, rounds, CPU, memory)", [
        _Key("listen", "listen", "",
             "address:port the keeper serves /metrics on, e.g. \"127.0.0.1:9464\"; empty = off. Nothing guards "
             "it, so keep it on loopback unless a scraper elsewhere needs it; several keepers on one host need "
             "a port each"),
    ]),
    "history": ("What swarmtui keeps on disk per node (in its state dir, never in the checkout)", [
        _Key("transcript_max_mb", "int", 20,
             "each run's raw terminal transcript is rolled over at this size (the previous part is kept)", minimum=1),
        _Key("transcript_keep", "int", 10, "transcripts of this many most recent runs are kept", minimum=1),
    ]),
    "answers": ("Answers to run_rl_swarm.sh's prompts, matched by the prompt's text (not by order)", [
        _Key("testnet", "str", "Y", "v0.2-v0.4: connect to the Testnet? Y or N", pattern=r"[YyNn].*"),
        _Key("swarm", "str", "A", "v0.4: which swarm, A (Math) or B (Math Hard)", pattern=r"[AaBb].*"),
        _Key("parameters", "str", "0.5", "v0.4: model size in billions: 0.5, 1.5, 7, 32 or 72",
             pattern=r"0\.5|1\.5|7|32|72"),
        _Key("hf_push", "str", "N", "push trained models to the Hugging Face Hub? Y or N", pattern=r"[YyNn].*"),
        _Key("hf_token", "str", None,
             "the Hugging Face token to give when hf_push is Y (never logged); without it swarmtui asks you",
             example="hf_..."),
        _Key("model", "str", "", "v0.5+: model as huggingface repo/name; empty = the script's default"),
        _Key("prediction_market", "str", "Y", "v0.6: join the AI Prediction Market? Y or N", pattern=r"[YyNn].*"),
    ]),
    "login": ("The browser login (modal-login/temp-data/*.json)", [
        _Key("keep_login", "bool", True,
             "back up userData.json and userApiKey.json (mode 0600, in swarmtui's state dir) and put them back "
             "before a restart, since the script deletes them on every exit; userApiKey.json holds a private key"),
    ]),
    "notify": ("Alerts sent by the keeper through apprise (Telegram, ntfy, Discord, Slack, email, webhooks, ...)", [
        _Key("urls", "strlist", None,
             "apprise URLs to send alerts to; SWARMTUI_NOTIFY_URLS (comma separated) adds more, so tokens can stay "
             "out of this file; never echoed whole (the token part is masked)",
             example=["tgram://BOT_TOKEN/CHAT_ID", "ntfy://ntfy.sh/YOUR_TOPIC"]),
        _Key("events", "events", list(ALERT_KINDS),
             "which alerts to send: " + ", ".join(ALERT_KINDS)),
        _Key("min_interval", "duration", "10m",
             "the same kind of alert for the same node at most this often; restarts within it are gathered "
             "into one message"),
    ]),
    "hooks": ("Your own program, run for each engine event (no shell)", [
        _Key("on_event", "argv", None,
             "a command as a list, run for every event except log lines, process snapshots and progress, "
             "with the event's JSON on stdin; its output is appended to hooks.log in the node's state dir",
             example=["/path/to/script", "arg"]),
        _Key("timeout", "duration", "30s", "a hook still running after this long is killed", minimum=1),
    ]),
    "launch": ("How the node is started (run_rl_swarm.sh activates no venv itself: it calls plain python and pip)", [
        _Key("venv", "path", None,
             "the Python environment the node runs in (a venv or conda env folder; relative = inside the checkout); "
             "unset: an activated VIRTUAL_ENV or CONDA_PREFIX, else the checkout's .venv/, else venv/, else "
             "python from PATH", example=".venv"),
        _Key("command", "argv", None,
             "the launch command as a list, run in the checkout without a shell; unset: bash run_rl_swarm.sh. "
             "A docker / docker-compose `compose run` command runs the node the Docker way (user/keys, "
             "user/modal-login, user/logs)",
             example=["docker", "compose", "run", "--rm", "--build", "-Pit", "swarm-cpu"]),
    ]),
}

_KEYS_DOC = ("The panel's keys: binding id = key (Textual key names, e.g. \"ctrl+r\"; several: \"r,ctrl+r\")",
             {"restart": "ctrl+r"})


# ---------------------------------------------------------------- the config objects


@dataclass
class RestartConfig:
    silence_limit: float = 20 * 60
    stall_limit: float = 30 * 60
    startup_grace: float = 60 * 60
    first_delay: float = 0.0
    backoff_initial: float = 10.0
    backoff_factor: float = 2.0
    backoff_max: float = 5 * 60
    stable_after: float = 10 * 60
    budget: int = 5
    budget_window: float = 60 * 60
    startup_failures: int = 3
    warn_repeat: int = 5
    warn_window: float = 60 * 60    # a per-round error repeats only every ~4-5 min
    exit_grace: float = 5.0
    stop_timeout: float = 20.0
    term_timeout: float = 10.0
    give_up_retry: float = 30 * 60


@dataclass
class WatchConfig:
    snapshot_interval: float = 2.0
    min_free_disk_mb: int = 500


@dataclass
class KeeperConfig:
    backlog_lines: int = 5000


@dataclass
class MetricsConfig:
    listen: str = ""                # "host:port" as written (checked by parse_listen); "" = off


@dataclass
class HistoryConfig:
    transcript_max_mb: int = 20
    transcript_keep: int = 10


@dataclass
class LoginConfig:
    keep_login: bool = True


@dataclass
class NotifyConfig:
    urls: tuple[str, ...] = ()
    events: tuple[str, ...] = ALERT_KINDS
    min_interval: float = 10 * 60


@dataclass
class HooksConfig:
    on_event: tuple[str, ...] | None = None
    timeout: float = 30.0


@dataclass
class LaunchConfig:
    venv: str | None = None                 # as written; resolved against the checkout by the launcher
    command: tuple[str, ...] | None = None  # None: bash run_rl_swarm.sh


def default_answers() -> dict[str, str]:
    return {k.name: k.default for k in _SCHEMA["answers"][1] if k.default is not None}


@dataclass
class Config:
    restart: RestartConfig = field(default_factory=RestartConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    keeper: KeeperConfig = field(default_factory=KeeperConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    answers: dict[str, str] = field(default_factory=default_answers)
    login: LoginConfig = field(default_factory=LoginConfig)
    launch: LaunchConfig = field(default_factory=LaunchConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    hooks: HooksConfig = field(default_factory=HooksConfig)
    keys: dict[str, str] = field(default_factory=dict)
    source: Path | None = None
    # Said once at start-up (Supervisor.start: a notice that `supervise` prints and the panel
    # shows); none of them stops swarmtui.
    warnings: list[str] = field(default_factory=list)


_SECTION_TYPES = {"restart": RestartConfig, "watch": WatchConfig, "keeper": KeeperConfig, "metrics": MetricsConfig,
                  "history": HistoryConfig,
                  "login": LoginConfig,
                  "launch": LaunchConfig, "notify": NotifyConfig, "hooks": HooksConfig}


# ---------------------------------------------------------------- loading


def load_config(path: Path | str | None = None) -> Config:
    """Read a config file. An explicit path must exist; None means the default file under the
    XDG config dir if it exists, else the built-in defaults."""
    explicit = path is not None
    if path is None:
        from swarmtui.paths import default_config_file

        path = default_config_file()
        if not path.exists():
            return Config()
    path = Path(path).expanduser()
    try:
        # A symlink is followed (configs kept in a dotfiles repo); a FIFO or a device is refused
        # instead of hanging start-up, and a config never needs more than this.
        raw, st = read_regular_stat(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config file not found: {path}") from None
        return Config()
    except UnsafeFileError as exc:
        if exc.st is not None and stat.S_ISDIR(exc.st.st_mode):
            raise ConfigError(f"config file is a directory: {path}") from None
        if exc.st is not None and not stat.S_ISREG(exc.st.st_mode):
            raise ConfigError(f"config file is {kind_of(exc.st.st_mode)}, not a file: {path}") from None
        raise ConfigError(f"config file is bigger than {MAX_CONFIG_BYTES >> 10} KB: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file is a directory: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    cfg = parse_config(raw, path)
    cfg.warnings += readable_secret_warnings(cfg, path, st.st_mode)
    return cfg


MAX_CONFIG_BYTES = 1 << 20
# Keys whose value must stay private. Only [answers] hf_token today; the pattern also covers
# any token-like answer added later, so the check cannot be forgotten.
_SECRET_KEY = re.compile(r"token|secret|password|passphrase|api_?key", re.IGNORECASE)


def readable_secret_warnings(cfg: Config, path: Path, mode: int) -> list[str]:
    """A warning when the file holds a secret and others may read it (group/other read bits).
    Reported with the fix; never chmod'ed for the person: it is their file."""
    secrets = sorted(f"[answers] {k}" for k, v in cfg.answers.items() if _SECRET_KEY.search(k) and v)
    if cfg.notify.urls:
        secrets.append("[notify] urls")         # bot tokens, webhook secrets
    if not secrets or not stat.S_IMODE(mode) & 0o044:
        return []
    names = ", ".join(secrets)
    return [f"{path} holds {names} and is readable by others (mode {stat.S_IMODE(mode):04o}): "
            f"chmod 600 {path}"]


def parse_config(raw: bytes | str, path: Path | str = "config.toml") -> Config:
    where = str(path)
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None

    cfg = Config(source=Path(path) if not isinstance(path, Path) else path)
    apply_table(cfg, data, where)
    return cfg


def apply_table(cfg: Config, data: dict[str, Any], where: str) -> None:
    """Apply parsed TOML tables to `cfg`, key by key, with the same checks as a config file (a
    fleet node's overrides go through here on top of the config file)."""
    for section, value in data.items():
        if section == "keys":
            cfg.keys = _parse_keys(where, value)
            continue
        if section not in _SCHEMA:
            known = ", ".join(f"[{s}]" for s in (*_SCHEMA, "keys"))
            raise ConfigError(f"{where}: unknown section [{section}] (known: {known})")
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: {section}: must be a [{section}] table, not a value")
        keys = {k.name: k for k in _SCHEMA[section][1]}
        for key, item in value.items():
            spec = keys.get(key)
            if spec is None:
                raise ConfigError(f"{where}: [{section}] unknown key {key!r} (known: {', '.join(keys)})")
            try:
                parsed = _convert(spec, item)
            except ConfigError as exc:
                raise ConfigError(f"{where}: [{section}] {key}: {exc}") from None
            if section == "answers":
                cfg.answers[key] = parsed
            else:
                setattr(getattr(cfg, section), key, parsed)
    if cfg.restart.backoff_max < cfg.restart.backoff_initial:
        raise ConfigError(f"{where}: [restart] backoff_max: must be at least backoff_initial "
                          f"({format_duration(cfg.restart.backoff_initial)})")


def _convert(spec: _Key, value: Any) -> Any:
    kind = spec.kind
    if kind == "duration":
        seconds = parse_duration(value)
        if spec.minimum is not None and seconds < spec.minimum:
            raise ConfigError(f"must be at least {format_duration(spec.minimum)}: {value!r}")
        return seconds
    if kind == "argv":
        if isinstance(value, str):
            raise ConfigError(f"must be a list of words, e.g. [\"docker\", \"compose\", \"run\", ...], "
                              f"not one string: {value!r} (no shell is used)")
        if not isinstance(value, list) or not value:
            raise ConfigError(f"must be a non-empty list of words, not {value!r}")
        words = []
        for word in value:
            if not isinstance(word, str) or not word:
                raise ConfigError(f"every word must be non-empty text, not {word!r}")
            if "\n" in word or "\r" in word or "\0" in word:
                raise ConfigError(f"a word must be one line: {word!r}")
            words.append(word)
        return tuple(words)
    if kind in ("strlist", "events"):
        if not isinstance(value, list):
            raise ConfigError(f"must be a list in brackets, e.g. [\"a\", \"b\"], not {value!r}")
        items = []
        for item in value:
            if not isinstance(item, str) or not item.strip():
                raise ConfigError(f"every item must be non-empty text, not {item!r}")
            if any(ch in item for ch in "\n\r\0"):
                raise ConfigError("every item must be one line")
            if kind == "events" and item.strip() not in ALERT_KINDS:
                raise ConfigError(f"unknown alert {item!r} (known: {', '.join(ALERT_KINDS)})")
            items.append(item.strip())
        return tuple(items)
    if kind == "listen":
        if not isinstance(value, str):
            raise ConfigError(f"must be \"address:port\" in quotes, e.g. \"127.0.0.1:9464\", not {value!r}")
        text = value.strip()
        if text:
            parse_listen(text)
        return text
    if kind == "path":
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"must be a folder name in quotes, not {value!r}")
        if "\n" in value or "\r" in value or "\0" in value:
            raise ConfigError("must be one line")
        return value.strip()
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"must be true or false, not {value!r}")
        return value
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"must be a number, not {value!r}")
        if kind == "int" and not isinstance(value, int):
            raise ConfigError(f"must be a whole number, not {value!r}")
        if math.isnan(value) or math.isinf(value):
            raise ConfigError(f"must be a finite number, not {value!r}")
        if value < 0:
            raise ConfigError(f"must not be negative: {value!r}")
        if spec.minimum is not None and value < spec.minimum:
            raise ConfigError(f"must be at least {spec.minimum:g}: {value!r}")
        return float(value) if kind == "float" else int(value)
    # str (answers): TOML numbers are fine for `parameters = 0.5`
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"must be text, not {value!r}")
    text = value if isinstance(value, str) else f"{value:g}"
    if "\n" in text or "\r" in text:
        raise ConfigError("must be one line")
    if spec.pattern and not re.fullmatch(spec.pattern, text.strip()):
        raise ConfigError(f"not an answer the script accepts: {text!r} ({spec.doc})")
    return text


def parse_listen(text: str) -> tuple[str, int]:
    """"127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464" -> (address, port). An IP address (or
    localhost), never a host name: what a keeper binds must not depend on DNS at start-up."""
    import ipaddress

    example = "e.g. \"127.0.0.1:9464\""
    if any(ch in text for ch in "\n\r\0"):
        raise ConfigError("must be one line")
    m = re.fullmatch(r"\[([^\]]*)\]:(\w*)|([^:\[\]]*):(\w*)", text)
    if m is None:
        if text.count(":") > 1:
            raise ConfigError(f"put an IPv6 address in brackets, e.g. \"[::1]:9464\", not {text!r}")
        raise ConfigError(f"must be address:port, {example}, not {text!r}")
    host, port = (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
    if not host:
        # An empty address would listen on every interface: that must be said, as 0.0.0.0.
        raise ConfigError(f"give the address too, {example} (or \"0.0.0.0:PORT\" for every interface), not {text!r}")
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(f"not an IP address: {host!r} ({example}, or \"0.0.0.0:PORT\" for every "
                              "interface)") from None
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise ConfigError(f"the port must be a number from 1 to 65535, not {port!r}")
    return host, int(port)


def _parse_keys(where: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: keys: must be a [keys] table, not a value")
    out: dict[str, str] = {}
    for binding, key in value.items():
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(f"{where}: [keys] {binding}: must be a key name in quotes, e.g. \"ctrl+r\", not {key!r}")
        if any(ch.isspace() for ch in key.strip()):
            raise ConfigError(f"{where}: [keys] {binding}: no spaces in key names: {key!r} (separate keys with commas)")
        out[binding] = key.strip()
    return out


# ---------------------------------------------------------------- documentation


def _toml_value(spec: _Key, value: Any) -> str:
    if spec.kind in ("argv", "strlist", "events"):
        return "[" + ", ".join(_toml_str(w) for w in value) + "]"
    if spec.kind == "bool":
        return "true" if value else "false"
    if spec.kind in ("int", "float"):
        return f"{value:g}" if spec.kind == "float" else str(value)
    return _toml_str(value)


def _toml_str(value: Any) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_default_config() -> str:
    """The documented default config file: every key, its default and one line of help."""
    out = ["# swarmtui config (TOML). Every key is optional; these are the defaults.",
           "# Durations: \"90s\", \"20m\", \"1h\", \"1h30m\" (or a number of seconds).", ""]
    for section, (title, keys) in _SCHEMA.items():
        out.append(f"# {title}")
        out.append(f"[{section}]")
        for spec in keys:
            out.append(f"# {spec.doc}")
            if spec.default is None:
                out.append(f"# {spec.name} = {_toml_value(spec, spec.example)}")
            else:
                out.append(f"{spec.name} = {_toml_value(spec, spec.default)}")
        out.append("")
    title, example = _KEYS_DOC
    out.append(f"# {title}")
    out.append("[keys]")
    for binding, key in example.items():
        out.append(f'# {binding} = "{key}"')
    return "\n".join(out) + "\n"


def config_keys() -> list[tuple[str, str, str, str]]:
    """(section, key, default as written, help) for every documented key: the README's table."""
    rows = []
    for section, (_, keys) in _SCHEMA.items():
        for spec in keys:
            default = "(unset)" if spec.default is None else _toml_value(spec, spec.default)
            rows.append((section, spec.name, default, spec.doc))
    return rows


def _check_schema_matches_dataclasses() -> None:
    """Import-time guard: every schema key is a dataclass field of its section and vice versa."""
    for section, cls in _SECTION_TYPES.items():
        names = {f.name for f in fields(cls)}
        documented = {k.name for k in _SCHEMA[section][1]}
        if names != documented:  # pragma: no cover - a programming error caught by any import
            raise RuntimeError(f"config schema drift in [{section}]: {sorted(names ^ documented)}")


_check_schema_matches_dataclasses()
