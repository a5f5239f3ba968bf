"""cluster.yaml passes the preparation and schema checks `ray up` applies; broken copies fail them."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = Path(__file__).resolve().parent.parent / "cluster.yaml"


def check(config: dict) -> None:
    validate_config(prepare_config(copy.deepcopy(config)))


@pytest.fixture
def config() -> dict:
    return yaml.safe_load(CLUSTER.read_text())


def test_cluster_yaml_is_valid(config):
    check(config)
    workers = config["available_node_types"]["gpu_worker"]
    assert workers["resources"]["GPU"] >= 1 and config["available_node_types"]["head"]["resources"]["CPU"] == 0
    text = CLUSTER.read_text()
    assert "aws_access_key" not in text.lower() and "arn:aws" not in text


@pytest.mark.parametrize("breakage, message", [
    (lambda c: c.update(max_wrokers=3), "max_wrokers"),
    (lambda c: c.update(head_node_type="head_typo"), "head_node_type"),
    (lambda c: c["available_node_types"]["gpu_worker"]["resources"].update(GPU="one"), "'one'"),
])
def test_broken_copies_fail(config, breakage, message):
    breakage(config)
    with pytest.raises(Exception) as err:
        check(config)
    assert message in str(err.value)


def test_local_cluster_yaml_is_valid():
    """cluster.local.yaml (on-prem provider) passes the same checks; its node types come from the IP lists."""
    local = yaml.safe_load((CLUSTER.parent / "cluster.local.yaml").read_text())
    prepared = prepare_config(copy.deepcopy(local))
    validate_config(prepared)
    assert prepared["provider"]["worker_ips"] == ["127.0.0.2", "127.0.0.3"]
    node_type = prepared["available_node_types"][prepared["head_node_type"]]
    assert node_type["min_workers"] == node_type["max_workers"] == 2
    assert all("--num-gpus=1" in c for c in local["worker_start_ray_commands"])
