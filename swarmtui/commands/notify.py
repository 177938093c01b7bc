"""`swarmtui notify test [NODE_DIR] [--config FILE]`: send a test alert through every configured
URL ([notify] urls and SWARMTUI_NOTIFY_URLS) and say, per URL (masked), sent or why not.

Exit status 0 when every URL took the message, 1 when one did not, 2 for bad input (no URL,
apprise missing, a NODE_DIR that is no checkout).
"""

from __future__ import annotations

import sys
from pathlib import Path

from swarmtui.errors import UserError
from swarmtui.node.text import sanitize


def run(args) -> int:
    from swarmtui import paths
    from swarmtui.engine.alert_sender import MISSING, apprise_available, send_one
    from swarmtui.engine.alerts import AlertPolicy
    from swarmtui.engine.clock import MonotonicClock
    from swarmtui.engine.config import load_config
    from swarmtui.engine.exports import URLS_ENV, SecretSource, notify_urls
    from swarmtui.engine.redact import mask_url

    config = load_config(Path(args.config).expanduser() if getattr(args, "config", None) else None)
    urls = notify_urls(config)
    if not urls:
        where = config.source or paths.default_config_file()
        raise UserError(f"no alert URLs: set [notify] urls in {where} (apprise URLs, e.g. "
                        f"[\"tgram://BOT_TOKEN/CHAT_ID\"]) or {URLS_ENV}")
    if not apprise_available():
        raise UserError(MISSING)
    layout = _layout(args.node_dir)
    policy = AlertPolicy(checkout=layout.root if layout else Path.cwd(), kinds=(), min_interval=0,
                         stable_after=0, clock=MonotonicClock())
    if layout is not None:
        policy.animal = _animal(layout)
    node = policy.node_name() if layout is not None else "no node"
    title = f"swarmtui: test alert ({node})"
    body = (f"A test from `swarmtui notify test` on {policy.host}, for {node}. If you read this, the keeper's "
            "alerts (needs-user, crash loops, logins, restarts, recovery) reach you here.")
    redact = SecretSource(layout, config, urls)()
    failed = 0
    for url in urls:
        error = send_one(url, redact(title), redact(body))
        if error is None:
            line = f"{mask_url(url)}: sent"
        else:
            failed += 1
            line = f"{mask_url(url)}: FAILED: {error}"
        sys.stdout.write(sanitize(line) + "\n")
        sys.stdout.flush()
    return 1 if failed else 0


def _layout(node_dir: str | None):
    from swarmtui.node.layout import NotACheckout, inspect_checkout

    if node_dir is not None:
        return inspect_checkout(node_dir)        # NotACheckout: one line, exit 2
    try:
        return inspect_checkout(".")             # a test from inside a checkout names it
    except NotACheckout:
        return None


def _animal(layout) -> str | None:
    try:
        from swarmtui.node.identity import identity_report

        return identity_report(layout).animal_name
    except Exception:  # a strange pem only costs the test its animal name
        return None
