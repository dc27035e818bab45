"""A GPU-sized agent lands on a GPU (runs only where the cluster has one; `-m gpu`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
import ray

from orchestrator import Agent, Orchestrator, TaskContext, Workflow, WorkflowState
from orchestrator.settings import LoggingSettings, RaySettings, Settings

pytestmark = [pytest.mark.integration, pytest.mark.gpu]


class GpuProbe(Agent):
    """Reports the GPU Ray gave it and, where torch is installed, multiplies on it."""

    num_cpus = 1
    num_gpus = 1
    replicas = 1

    def handle(self, ctx: TaskContext) -> dict[str, object]:
        report: dict[str, object] = {
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "ray_gpu_ids": [str(gpu) for gpu in ray.get_gpu_ids()],
        }
        try:
            import torch  # type: ignore[import-not-found]
        except ImportError:
            return report
        size = int(ctx.args[0])
        ones = torch.ones((size, size), device="cuda")
        report["device"] = torch.cuda.get_device_name(0)
        report["matmul_sum"] = float((ones @ ones).sum().item())
        return report


@pytest.fixture(scope="module")
def orchestrator() -> Iterator[Orchestrator]:
    if shutil.which("nvidia-smi") is None:
        pytest.skip("no NVIDIA GPU on this machine")
    settings = Settings(
        ray=RaySettings(auth_mode="disabled", log_to_driver=False),
        logging=LoggingSettings(level="WARNING"),
    )
    with Orchestrator(settings=settings) as orch:
        if not ray.cluster_resources().get("GPU"):
            pytest.skip("no GPU in this cluster")
        yield orch


def test_gpu_agent_runs_on_a_gpu(orchestrator: Orchestrator) -> None:
    wf = Workflow("gpu-probe")
    wf.task("probe", GpuProbe, args=(512,))
    run = orchestrator.submit(wf)
    assert run.wait(timeout_s=300).state is WorkflowState.SUCCEEDED
    report = run.result("probe")
    assert report["ray_gpu_ids"], report
    assert report["cuda_visible_devices"] == ",".join(report["ray_gpu_ids"])
    if "matmul_sum" in report:
        assert report["matmul_sum"] == 512.0 * 512 * 512
