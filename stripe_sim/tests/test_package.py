"""The simulator as its own distribution: its fixtures arrive as a pytest plugin, pytest stays in
that plugin, every subpackage and template is shipped, and the product never imports it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((SIM / "pyproject.toml").read_text())
PYTEST_IMPORT = re.compile(r"^\s*(import pytest\b|from pytest\b|from _pytest\b)", re.M)


def shipped_sources() -> list[Path]:
    """The package's own modules: not its tests, nor build or egg-info leftovers."""
    return [path for path in sorted(SIM.rglob("*.py"))
            if not {"tests", "build"} & set(path.relative_to(SIM).parts)
            and not any(part.endswith(".egg-info") for part in path.parts)]


def test_the_fixtures_come_from_the_entry_point_plugin(request: pytest.FixtureRequest) -> None:
    assert CONFIG["project"]["entry-points"]["pytest11"] == {
        "stripe_sim": "stripe_sim.pytest_plugin"}
    plugin = request.config.pluginmanager.get_plugin("stripe_sim")
    assert plugin is not None, "stripe_sim's plugin is not registered: pip install -e ./stripe_sim"
    assert plugin.__name__ == "stripe_sim.pytest_plugin"


def test_only_the_plugin_imports_pytest() -> None:
    importers = [path.relative_to(SIM).as_posix() for path in shipped_sources()
                 if PYTEST_IMPORT.search(path.read_text())]
    assert importers == ["pytest_plugin.py"]


def test_the_helpers_import_without_pytest() -> None:
    """Tests and scripts may use SimulatorProcess directly; that must not pull pytest in."""
    probe = "import sys, stripe_sim.testing; print('pytest' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=str(SIM.parent))
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env=env, cwd=SIM.parent, timeout=60, check=True)
    assert result.stdout.strip() == "False"


def test_every_subpackage_and_template_is_shipped() -> None:
    setuptools = CONFIG["tool"]["setuptools"]
    packages = {".".join(("stripe_sim", *path.parent.relative_to(SIM).parts))
                for path in shipped_sources() if path.name == "__init__.py"}
    assert set(setuptools["packages"]) == packages
    templates = {path.relative_to(SIM).as_posix()
                 for path in (SIM / "templates").rglob("*") if path.is_file()}
    patterns = setuptools["package-data"]["stripe_sim"]
    matched = {path.relative_to(SIM).as_posix()
               for pattern in patterns for path in SIM.glob(pattern)}
    assert templates, "no templates found"
    assert matched == templates


def test_the_product_does_not_import_the_simulator() -> None:
    """portal/ only starts it as a subprocess (``-m stripe_sim`` in the dev server)."""
    portal = SIM.parent / "portal"
    assert portal.is_dir(), f"expected the portal beside the simulator at {portal}"
    importers = [path.relative_to(SIM.parent).as_posix() for path in sorted(portal.rglob("*.py"))
                 if re.search(r"^\s*(import|from)\s+stripe_sim\b", path.read_text(), re.M)]
    assert importers == []


def test_the_test_simulator_keeps_its_api_key_out_of_its_command_line(sim):
    """``ps`` shows every process's arguments: the key goes by environment."""
    cmdline = Path(f"/proc/{sim._proc.pid}/cmdline").read_bytes()
    assert b"stripe_sim" in cmdline
    assert sim.api_key.encode() not in cmdline
    environ = Path(f"/proc/{sim._proc.pid}/environ").read_bytes()
    assert f"STRIPE_SIM_API_KEY={sim.api_key}".encode() in environ
