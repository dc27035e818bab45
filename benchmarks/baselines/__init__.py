"""Baselines: the same `WorkflowSpec` run as plain Ray tasks and on Dask distributed.

``ray_tasks`` and ``dask_tasks`` import their engine; import them only where it is
installed (Dask comes with the ``bench`` extra).
"""

from benchmarks.baselines.common import BaselineRun, TaskOutcome, plan

__all__ = ["BaselineRun", "TaskOutcome", "plan"]
