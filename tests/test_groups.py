"""The course tables as data, and their expansion into jobs."""
import pytest

from core.course import (PART1_GROUPS, PART2_GROUPS, Job, Group, GroupError, all_groups, expand, group_jobs,
                           parse_groups)


def test_forty_groups_in_course_order():
    groups = all_groups()
    assert len(groups) == 40
    assert [g.name for g in groups[:2]] == ["P1G1", "P1G2"] and groups[20].name == "P2G1"


def test_part1_table_matches_handout():
    models = ["alexnet", "inception_v3", "resnet18", "vgg16"]
    datasets = ["animals", "places", "faces", "household", "caltech101"]
    expected = {4 * d + m + 1: (datasets[d], models[m]) for d in range(5) for m in range(4)}
    assert PART1_GROUPS == expected


def test_part2_table_matches_handout():
    pairs = [("sentiment", "spam"), ("sentiment", "questions"), ("sentiment", "newsgroups"), ("spam", "questions"),
             ("spam", "newsgroups"), ("questions", "newsgroups")]
    expected = {i + 1: (pairs[i % 6], "lstm" if (i // 6) % 2 == 0 else "gru") for i in range(20)}
    assert PART2_GROUPS == expected


def test_each_group_expands_to_its_cells():
    for group in all_groups((1,)):
        jobs = group_jobs(group)
        assert [c.method for c in jobs] == ["features_svm", "finetune", "finetune_aug"]
        assert len({(c.dataset, c.model) for c in jobs}) == 1
    for group in all_groups((2,)):
        jobs = group_jobs(group)
        assert len(jobs) == 2 and jobs[0].dataset != jobs[1].dataset
        assert jobs[0].model == jobs[1].model


def test_shared_cells_run_once_and_keep_all_groups():
    jobs = expand(all_groups())
    assert sum(c.part == 1 for c in jobs) == 60  # 20 distinct (dataset, model) pairs x 3 methods
    assert sum(c.part == 2 for c in jobs) == 8  # 4 datasets x {lstm, gru}
    shared = jobs[Job(2, "sentiment", "lstm", "recurrent")]
    assert [g.name for g in shared] == ["P2G1", "P2G2", "P2G3", "P2G13", "P2G14", "P2G15"]


def test_parse_groups_numbers_and_names():
    assert parse_groups("3,7", (1,)) == [Group(1, 3), Group(1, 7)]
    assert parse_groups("P2G14,P1G1") == [Group(2, 14), Group(1, 1)]
    assert parse_groups("5") == [Group(1, 5), Group(2, 5)]


@pytest.mark.parametrize("spec", ["21", "P3G1", "P1G0", "abc"])
def test_unknown_group_is_a_clear_error(spec):
    with pytest.raises(GroupError, match="--groups: unknown group"):
        parse_groups(spec)


def test_frameworks_repeat_only_cells_whose_method_has_them():
    jobs = expand(parse_groups("P1G1,P2G1"), frameworks=("tensorflow", "torch"))
    assert sum(c.part == 1 for c in jobs) == 3
    assert sorted(c.key for c in jobs if c.part == 2) == [
        "p2-sentiment-lstm-recurrent", "p2-sentiment-lstm-recurrent-torch",
        "p2-spam-lstm-recurrent", "p2-spam-lstm-recurrent-torch"]


def test_matrix_pairs_each_dataset_with_its_part():
    from sweeps.matrix import matrix_jobs

    jobs = matrix_jobs(["caltech101", "spam"], ["mobilenet_v2", "gru"], ["features_svm", "finetune", "recurrent"])
    assert sorted(c.key for c in jobs) == ["p1-caltech101-mobilenet_v2-features_svm",
                                           "p1-caltech101-mobilenet_v2-finetune", "p2-spam-gru-recurrent"]
    with pytest.raises(GroupError, match="no combination fits"):
        matrix_jobs(["spam"], ["resnet18"], ["recurrent"])
    # the handout's warm-up: small_cnn pairs with CIFAR-100 only, once per requested framework
    jobs = matrix_jobs(["cifar100", "caltech101"], ["small_cnn", "resnet18"], ["scratch_cnn", "features_svm"],
                       ("torch", "tensorflow"))
    assert sorted(c.key for c in jobs) == ["p1-caltech101-resnet18-features_svm",
                                           "p1-cifar100-small_cnn-scratch_cnn",
                                           "p1-cifar100-small_cnn-scratch_cnn-tensorflow"]


def test_default_sweep_ids_keep_selections_apart():
    from sweeps.all_groups import selection_tag

    assert selection_tag(all_groups(), None) == ""
    assert selection_tag(all_groups((2,)), 2) == "part2"
    assert selection_tag(parse_groups("P1G3,P2G14"), None) == "P1G3_P2G14"
    many = selection_tag(parse_groups("1,2,3,4,5", (1,)), 1)
    assert many.startswith("5groups-") and many != selection_tag(parse_groups("1,2,3,4,6", (1,)), 1)
