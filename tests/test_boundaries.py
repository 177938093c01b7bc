"""The layers' boundary: node/ and engine/ never import Textual (design.md, 'Three layers')."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import swarmtui.engine
import swarmtui.node


def _submodules(pkg) -> list[str]:
    return [pkg.__name__] + [f"{pkg.__name__}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)]


def test_engine_and_node_do_not_load_textual():
    modules = _submodules(swarmtui.node) + _submodules(swarmtui.engine)
    assert "swarmtui.node.signatures" in modules and "swarmtui.engine.events" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"textual loaded by node/engine: {out.stdout.strip()}"


def test_the_check_would_notice_textual():
    # The same probe sees Textual when something does import it (so the test above can fail).
    code = "import sys, textual\nprint(any(m == 'textual' for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True"
