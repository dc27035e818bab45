"""The core stays pure: importing it (or the package) never loads Ray."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import json, sys
import {module}
print(json.dumps(sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))))
"""


@pytest.mark.parametrize("module", ["orchestrator.core", "orchestrator"])
def test_import_does_not_load_ray(module: str) -> None:
    # Given a fresh interpreter (this one may have Ray loaded by other tests)
    # When it imports the module
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Then the import works and no ray module is loaded
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_probe_detects_a_loaded_ray_module() -> None:
    # The probe itself must be able to fail: a module named ray.* in sys.modules is seen.
    # (A stand-in module, because importing the real Ray costs a second.)
    fake_import = "sys; sys.modules['ray.fake'] = sys"
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=fake_import)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["ray.fake"]
