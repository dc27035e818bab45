"""Import workflow instances in the WfCommons WfFormat JSON format as `WorkflowSpec`.

WfCommons (https://wfcommons.org) publishes traces of real scientific workflows (Montage,
Epigenomics, Cycles, Blast, 1000Genome, Seismology, SoyKB, SRASearch...) and generates
synthetic instances of them. An instance records each task's dependencies, runtime and
core count. `load_wfformat` turns one into a workflow whose tasks run
``agents.simulated:simulate`` for the recorded runtime times a scale factor, on the
recorded number of cores, so the orchestrator can replay real workflow structures.

Supported layouts:

- **1.5 and 1.6** (what ``wfcommons`` 1.6 writes): ``workflow.specification.tasks`` holds
  ``id``, ``parents`` and ``children`` (ids); ``workflow.execution.tasks`` holds ``id``,
  ``runtimeInSeconds`` and optionally ``coreCount`` (at least 1).
- **1.4**: one list ``workflow.tasks`` whose items carry ``name``, ``parents`` and
  ``children`` (by name, or by ``id``), ``runtimeInSeconds`` and optionally ``cores``
  (fractions allowed).

A dependency is taken from either end: ``B`` depends on ``A`` when ``B`` lists ``A`` as a
parent or ``A`` lists ``B`` as a child. Files, machines, commands, priorities and energy
figures are not used. Every task needs a recorded runtime: an instance without an
execution section, or a task without a runtime, is refused rather than guessed at.

Task ids become orchestrator ids: characters outside ``A-Z a-z 0-9 _ . : @ -`` (WfFormat
allows ``#`` and ``/``) become ``_``, as does a leading ``. : @ -``, and ids are cut at 200
characters; `WfFormatInstance.task_ids` keeps the mapping, and two ids that end up equal
are refused. A core count above 1 that is not whole is rounded up, because Ray (and a
slot) only hands out whole CPUs above one.

Modules:

- `convert`: `load_wfformat`, `read_wfformat`, `is_wfformat` and `WfFormatInstance`;
- `layouts`: the schema version and the two layouts, read into raw task records;
- `graph`: orchestrator ids, dependencies and cycles;
- `fields`: readers for single JSON fields that report what is missing or wrong.
"""

from orchestrator.wfformat.convert import (
    SIMULATE_FUNCTION,
    WfFormatInstance,
    is_wfformat,
    load_wfformat,
    read_wfformat,
)
from orchestrator.wfformat.layouts import SUPPORTED_SCHEMA_VERSIONS

__all__ = [
    "SIMULATE_FUNCTION",
    "SUPPORTED_SCHEMA_VERSIONS",
    "WfFormatInstance",
    "is_wfformat",
    "load_wfformat",
    "read_wfformat",
]
