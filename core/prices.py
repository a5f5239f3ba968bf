"""What compute costs, for the dry run's estimate (sweeps.cost.estimate) and the report's cost (analysis.cost): AWS
on-demand list prices in us-east-1 for the cluster.yaml instance types, and a planning figure for its spot GPU
workers; pass your own with --price-gpu-hour / --spot-price-gpu-hour / --price-cpu-hour."""
from __future__ import annotations

from dataclasses import dataclass

PRICE_GPU_HOUR = 1.006   # USD: g5.xlarge (1 NVIDIA A10G + 4 vCPU), the cluster.yaml worker, per GPU-hour
PRICE_CPU_HOUR = 0.0425  # USD: c6i.xlarge ($0.17/h for 4 vCPU), per vCPU-hour
# USD per GPU-hour on cluster.yaml's gpu_spot (g5.xlarge spot). Not a quote: AWS sets the spot price per hour and
# zone, and these machines cannot read it (no internet). An assumption written on 2026-12-02: 40 % of on-demand,
# inside AWS's own "up to 90 % off" and the 60-70 % below on-demand that spot GPU capacity commonly sells at. For
# your region's figure: aws ec2 describe-spot-price-history --instance-types g5.xlarge \
#     --product-descriptions Linux/UNIX --max-items 10, then pass it as --spot-price-gpu-hour.
PRICE_GPU_HOUR_SPOT = 0.40
SPOT_SOURCE = "an assumption of 40 % of on-demand (core/prices.py, 2026-12-02); --spot-price-gpu-hour for yours"


@dataclass(frozen=True)
class Prices:
    gpu_hour: float = PRICE_GPU_HOUR
    cpu_hour: float = PRICE_CPU_HOUR
    gpu_hour_spot: float = PRICE_GPU_HOUR_SPOT
    spot_source: str = SPOT_SOURCE  # where the spot price comes from, said beside it
