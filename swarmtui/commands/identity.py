"""`swarmtui identity [NODE_DIR] [--json]`: peer id, animal name and login state, offline."""

from __future__ import annotations

import sys

from swarmtui.node.text import sanitize, terminal_json


def run(args) -> int:
    from swarmtui.node.identity import identity_report
    from swarmtui.node.layout import inspect_checkout

    layout = inspect_checkout(args.node_dir)  # NotACheckout is a UserError: one line, exit 2
    report = identity_report(layout)
    if args.json:
        sys.stdout.write(terminal_json(report.to_dict()) + "\n")
    else:
        sys.stdout.write(format_human(report, layout.era_label))
    return 0


def format_human(report, era_label: str) -> str:
    rows: list[tuple[str, str]] = [("node", f"{report.root}  ({era_label})")]
    pem = f"{report.pem_path}  {report.pem_state}"
    if report.pem_mode:
        pem += f", mode {report.pem_mode}"
    rows.append(("swarm.pem", pem))
    rows.append(("peer id", report.peer_id or "unknown"))
    if report.animal_name:
        rows.append(("name", report.animal_name))
    elif report.peer_id:
        rows.append(("name", "unknown (no word lists in this checkout)"))
    lg = report.login
    if lg.user_data:
        parts = [f"org {lg.org_id or '?'}", f"EOA {lg.address or '?'}"]
        if lg.email:
            parts.append(lg.email)
        rows.append(("login", "userData.json: " + ", ".join(parts)))
    else:
        rows.append(("login", "userData.json: not there (not logged in)"))
    if lg.api_key:
        if lg.keys is None:
            rows.append(("", "userApiKey.json: unreadable"))
        else:
            state = "activated" if lg.activated else "not activated"
            created = f", created {lg.created_at}" if lg.created_at else ""
            rows.append(("", f"userApiKey.json: {lg.keys} key{'s' if lg.keys != 1 else ''}, latest {state}{created}"))
    else:
        rows.append(("", "userApiKey.json: not there"))
    if report.backups:
        rows.append(("backups", ", ".join(b["path"] for b in report.backups[:4]) + ("…" if len(report.backups) > 4 else "")))
    if not report.problems:
        rows.append(("problems", "none"))
    for i, p in enumerate(report.problems):
        rows.append(("problems" if i == 0 else "", f"{p.code}: {p.message}"))
        rows.append(("", f"  fix: {p.fix}"))
    # Every value can come from a file someone else wrote (userData.json's email, a path): each
    # row is cleaned on its own, so a newline in a field cannot forge a row either.
    return "\n".join(f"{k:<10} {sanitize(v)}".rstrip() for k, v in rows) + "\n"
