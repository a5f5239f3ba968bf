"""Published reference accuracies (analysis/anchors.yaml): typed, validated once at load, joined with a sweep's
selected results per dataset and method."""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from core.results import ResultsError
from core import yamlfile

ANCHORS = Path(__file__).with_name("anchors.yaml")


@dataclass(frozen=True)
class Anchor:
    dataset: str
    method: str
    accuracy: float
    model: str
    source: str
    protocol: str
    same_protocol: bool


def load_anchors(path: Path = ANCHORS) -> list[Anchor]:
    """Every entry of the file; a malformed one is one error naming the file, the entry and the field."""
    try:
        entries = yamlfile.loads(path.read_text())["anchors"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ResultsError(f"{path}: expected a YAML mapping with a list 'anchors' ({type(exc).__name__})") from None
    names = [f.name for f in fields(Anchor)]
    anchors = []
    for i, entry in enumerate(entries):
        missing = [n for n in names if not isinstance(entry, dict) or n not in entry]
        if missing:
            raise ResultsError(f"{path}: anchors[{i}] lacks {', '.join(missing)}")
        accuracy = entry["accuracy"]
        if not isinstance(accuracy, (int, float)) or not 0 <= accuracy <= 1:
            raise ResultsError(f"{path}: anchors[{i}].accuracy: expected a fraction in [0, 1], got {accuracy!r}")
        anchors.append(Anchor(**{n: entry[n] for n in names}))
    return anchors
