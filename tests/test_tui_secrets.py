"""The panel over a real Supervisor and a simulated node: secrets readable by others are shown,
the config's warning as a toast, the login files' modes as problems in the Identity pane."""

from __future__ import annotations

import sys

import pytest

from swarmtui.engine import events as ev
from swarmtui.engine.config import load_config
from tests.tui_sim import SimPanel, until

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(90)]


async def test_readable_secrets_reach_the_panel(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[answers]\nhf_token = "hf_panel_SECRET"\n')
    cfg.chmod(0o644)
    warnings = load_config(cfg).warnings
    assert len(warnings) == 1
    panel = SimPanel(tmp_path)          # the simulated login server writes its files 0644, as the real one does
    panel.config.warnings = warnings
    app = panel.app
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: any("hf_token" in m for _, m in app.toasts), what="the config warning")
            assert any(sev == "warning" and f"chmod 600 {cfg}" in m for sev, m in app.toasts)
            await until(pilot, lambda: any(
                any(p.get("code") == "secret-readable" for p in e.report.get("problems", []))
                for e in panel.of(ev.IdentityChanged)), what="a secret-readable problem")
            body = str(app.query_one("#identity-body").render())
            assert "userApiKey.json is readable by others" in body and "chmod 600" in body
            assert "hf_panel_SECRET" not in body
    finally:
        panel.cleanup()
