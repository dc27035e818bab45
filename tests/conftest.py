"""Settings every test process (and the CLI subprocesses it starts) shares.

Workflow files in ``tests/data`` name handlers in ``tests.*``: granted here, on top of
the shipped safe list. The audit trail goes to a temporary file, not the home directory.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from orchestrator.core.handler_policy import SAFE_FILE_MODULES

os.environ.setdefault(
    "ORCHESTRATOR_SECURITY__FILE_HANDLER_MODULES", json.dumps([*SAFE_FILE_MODULES, "tests"])
)
os.environ.setdefault(
    "ORCHESTRATOR_SECURITY__AUDIT_PATH",
    str(Path(tempfile.mkdtemp(prefix="orchestrator-test-audit-")) / "audit.jsonl"),
)
