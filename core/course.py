"""The course's two group tables, as data, and their expansion into jobs of work.

A *job* is one (part, dataset, model-or-cell-type, method) combination. Several groups can share a job
(Part 2 groups 13-20 repeat 1-8, and two Part 2 groups that share a dataset and cell type share that job);
a job runs once and per-group views are a join at analysis time.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from core.plan import Job

# Part 1 (transfer learning, PyTorch): group -> (dataset, model). Every group does all three methods.
PART1_GROUPS: dict[int, tuple[str, str]] = {
    1: ("animals", "alexnet"), 2: ("animals", "inception_v3"), 3: ("animals", "resnet18"), 4: ("animals", "vgg16"),
    5: ("places", "alexnet"), 6: ("places", "inception_v3"), 7: ("places", "resnet18"), 8: ("places", "vgg16"),
    9: ("faces", "alexnet"), 10: ("faces", "inception_v3"), 11: ("faces", "resnet18"), 12: ("faces", "vgg16"),
    13: ("household", "alexnet"), 14: ("household", "inception_v3"), 15: ("household", "resnet18"),
    16: ("household", "vgg16"), 17: ("caltech101", "alexnet"), 18: ("caltech101", "inception_v3"),
    19: ("caltech101", "resnet18"), 20: ("caltech101", "vgg16"),
}
PART1_METHODS: tuple[str, ...] = ("features_svm", "finetune", "finetune_aug")

# Part 2 (text classification, TensorFlow): group -> ((dataset, dataset), cell type). The method is "recurrent".
PART2_GROUPS: dict[int, tuple[tuple[str, str], str]] = {
    1: (("sentiment", "spam"), "lstm"), 2: (("sentiment", "questions"), "lstm"),
    3: (("sentiment", "newsgroups"), "lstm"), 4: (("spam", "questions"), "lstm"),
    5: (("spam", "newsgroups"), "lstm"), 6: (("questions", "newsgroups"), "lstm"),
    7: (("sentiment", "spam"), "gru"), 8: (("sentiment", "questions"), "gru"),
    9: (("sentiment", "newsgroups"), "gru"), 10: (("spam", "questions"), "gru"),
    11: (("spam", "newsgroups"), "gru"), 12: (("questions", "newsgroups"), "gru"),
    13: (("sentiment", "spam"), "lstm"), 14: (("sentiment", "questions"), "lstm"),
    15: (("sentiment", "newsgroups"), "lstm"), 16: (("spam", "questions"), "lstm"),
    17: (("spam", "newsgroups"), "lstm"), 18: (("questions", "newsgroups"), "lstm"),
    19: (("sentiment", "spam"), "gru"), 20: (("sentiment", "questions"), "gru"),
}
PART2_METHOD = "recurrent"


class GroupError(ValueError):
    """An unknown part or group was asked for."""


@dataclass(frozen=True)
class Group:
    part: int
    number: int

    @property
    def name(self) -> str:
        return f"P{self.part}G{self.number}"


def group_jobs(group: Group) -> list[Job]:
    """The jobs one group is assigned, in the handout's order."""
    if group.part == 1:
        dataset, model = PART1_GROUPS[group.number]
        return [Job(1, dataset, model, method) for method in PART1_METHODS]
    datasets, cell_type = PART2_GROUPS[group.number]
    return [Job(2, dataset, cell_type, PART2_METHOD) for dataset in datasets]


def all_groups(parts: tuple[int, ...] = (1, 2)) -> list[Group]:
    """Every group of the given parts, in the course's assignment order."""
    tables = {1: PART1_GROUPS, 2: PART2_GROUPS}
    return [Group(part, number) for part in parts for number in tables[part]]


def parse_groups(spec: str | None, parts: tuple[int, ...] = (1, 2)) -> list[Group]:
    """Parse `--groups`: comma-separated numbers (within the selected parts) or names such as P1G3 / P2G14."""
    if spec is None:
        return all_groups(parts)
    if not spec.replace(",", "").strip():
        raise GroupError(f"--groups {spec!r}: no group named; expected numbers 1-20 or names like P1G3 / P2G14 "
                         f"(leave --groups out for every group)")
    chosen: list[Group] = []
    for token in (t.strip() for t in spec.split(",") if t.strip()):
        upper = token.upper()
        if upper.startswith("P") and "G" in upper:
            part_s, _, num_s = upper[1:].partition("G")
            candidates = [Group(int(part_s), int(num_s))] if part_s.isdigit() and num_s.isdigit() else []
            if candidates and candidates[0].part in (1, 2) and candidates[0].part not in parts:
                raise GroupError(f"--groups {token} is a Part {candidates[0].part} group, but --part "
                                 f"{parts[0]} was given; drop --part, or name Part {parts[0]} groups")
        elif token.isdigit():
            candidates = [Group(part, int(token)) for part in parts]
        else:
            candidates = []
        valid = [g for g in candidates if g.number in {1: PART1_GROUPS, 2: PART2_GROUPS}.get(g.part, {})]
        if not valid:
            raise GroupError(f"--groups: unknown group {token!r}; expected a number 1-20 or a name like P1G3 / P2G14")
        chosen.extend(g for g in valid if g not in chosen)
    return chosen


def expand(groups: list[Group], frameworks: tuple[str, ...] = ()) -> dict[Job, list[Group]]:
    """Map each distinct job to the groups that share it (insertion order follows the groups' order).

    A job whose method exists in several frameworks is repeated once per requested one (MethodSpec.frameworks_for;
    none requested: the method's default).
    """
    from core.registry import METHODS

    jobs: dict[Job, list[Group]] = {}
    for group in groups:
        for job in group_jobs(group):
            for framework in METHODS.get(job.method).frameworks_for(frameworks):
                jobs.setdefault(replace(job, framework=framework), []).append(group)
    return jobs
