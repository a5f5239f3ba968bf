"""What compute costs, for the dry run's estimate (sweeps.estimate) and the report's cost (analysis.cost): AWS
on-demand list prices in us-east-1 for the cluster.yaml instance types; pass your own with --price-gpu-hour /
--price-cpu-hour."""
from __future__ import annotations

from dataclasses import dataclass

PRICE_GPU_HOUR = 1.006   # USD: g5.xlarge (1 NVIDIA A10G + 4 vCPU), the cluster.yaml worker, per GPU-hour
PRICE_CPU_HOUR = 0.0425  # USD: c6i.xlarge ($0.17/h for 4 vCPU), per vCPU-hour


@dataclass(frozen=True)
class Prices:
    gpu_hour: float = PRICE_GPU_HOUR
    cpu_hour: float = PRICE_CPU_HOUR
