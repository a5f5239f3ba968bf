"""Registries, budgets and the result-row helper."""
import pandas as pd
import pytest
from ray import tune

from sweeps.budgets import BudgetError, load_budget, sample_configs, space_entry
from core import ledger
from core.plan import Asha
from core.registry import (BACKBONES, CELLS, DATASETS, METHODS, Registry, UnknownNameError, list_backbones,
                                 list_cells, list_datasets, list_methods)


def test_registries_hold_the_course_names():
    assert list_datasets(1) == ["animals", "faces", "places", "household", "caltech101", "cifar100"]
    assert list_datasets(2) == ["sentiment", "spam", "questions", "newsgroups"]
    assert list_backbones() == ["alexnet", "vgg16", "resnet18", "inception_v3", "densenet121", "mobilenet_v2"]
    assert list_methods(1) == ["features_svm", "finetune", "finetune_aug", "scratch_cnn"]
    assert list_cells() == ["rnn", "lstm", "gru"]
    assert DATASETS.get("questions").n_classes == 50 and BACKBONES.get("inception_v3").input_size == 299


@pytest.mark.parametrize("registry", [DATASETS, BACKBONES, METHODS, CELLS])
def test_unknown_name_lists_valid_ones(registry):
    with pytest.raises(UnknownNameError) as err:
        registry.get("nope")
    assert "valid:" in str(err.value) and registry.names()[0] in str(err.value)


def test_duplicate_name_is_an_error():
    reg = Registry("thing")
    reg.register("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", 2)


def test_sampling_is_reproducible_and_within_space():
    space = load_budget("smoke").method("finetune").space
    a, b = sample_configs(space, 5, seed=7), sample_configs(space, 5, seed=7)
    assert a == b and a != sample_configs(space, 5, seed=8)
    assert all(0.001 <= c["lr"] <= 0.05 and c["mode"] in {"head", "head_lr", "last3", "all"} for c in a)
    # {cycle: [...]}: every value once per round, the rest drawn as usual
    cycled = sample_configs(space | {"mode": space_entry("t", {"cycle": ["head", "all"]})}, 4, seed=7)
    assert [c["mode"] for c in cycled] == ["head", "all", "head", "all"] and len({c["lr"] for c in cycled}) == 4


def as_ray(value):
    """A budget's domain as the Ray Tune domain of the same name (what budgets held before sweeps.domains)."""
    from ray import tune

    from sweeps import domains

    convert = {domains.Choice: lambda d: tune.choice(list(d.values)),
               domains.LogUniform: lambda d: tune.loguniform(d.lower, d.upper),
               domains.Uniform: lambda d: tune.uniform(d.lower, d.upper),
               domains.RandInt: lambda d: tune.randint(d.lower, d.upper)}
    return convert[type(value)](value) if type(value) in convert else value


def test_budget_domains_draw_what_ray_tunes_draw():
    """Every named budget's every space samples the very configurations Ray Tune's own domains sample from the same
    seed: a sweep's trial ids (a digest of them) stay what they were before budgets stopped importing Ray."""
    from sweeps.budgets import list_budgets

    spaces = [mb.space_for(d) for b in list_budgets() for mb in load_budget(b).methods.values()
              for d in (None, *mb.datasets)]
    spaces.append({"u": space_entry("t", {"uniform": [0.0, 0.5]}), "r": space_entry("t", {"randint": [1, 9]}),
                   "c": space_entry("t", {"choice": [1, "a", None, 2.5]})})
    for space in spaces:
        for seed in (0, 7, 12345):
            ray_space = {k: as_ray(v) for k, v in space.items()}
            assert sample_configs(space, 6, seed) == sample_configs(ray_space, 6, seed), space


def test_loading_a_budget_imports_no_ray():
    """Driver-side checks stay light: a budget loads and checks itself without Ray (sweeps.domains)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("import sys; from sweeps.budgets import list_budgets, load_budget, sample_configs\n"
            "for name in list_budgets(): b = load_budget(name); [sample_configs(m.space, 3, 0) for m in "
            "b.methods.values()]\n"
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_bad_budget_errors(tmp_path):
    with pytest.raises(BudgetError, match="no budget 'nope'"):
        load_budget("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("val_fraction: 0.2\nimages: {}\ntext: {}\nresources: {}\n"
                   "methods: {finetune: {num_samples: 1, space: {lr: {gaussian: [0, 1]}}}}\n")
    with pytest.raises(BudgetError, match=r"methods.finetune.space.lr: expected a value or one of"):
        load_budget(str(bad))


def test_row_has_fixed_schema_order_and_flattened_metrics(tmp_path):
    values = {"sweep_id": "s", "part": 1, "trial_id": "t1", "status": "ok", "param_lr": 0.1, "param_mode": "head",
              **ledger.flatten_metrics({"train": {"loss": 0.5}, "test": {"acc": 0.9}})}
    row = ledger.make_row(values)
    cols = row.column_names
    assert cols[:9] == list(ledger.IDENTITY)
    assert cols[9:11] == ["param_lr", "param_mode"]
    fixed = [*ledger.METRICS, *ledger.COST, *ledger.PROVENANCE, *ledger.OUTCOME]
    assert cols[11:11 + len(fixed)] == fixed
    assert cols[11 + len(fixed):] == sorted(ledger.DETAIL)  # what trainables add, declared and typed too
    path = ledger.write_parquet_atomic(row, tmp_path / "trials" / "t1.parquet")
    back = pd.read_parquet(path)
    assert back.loc[0, "test_acc"] == 0.9 and back.loc[0, "train_loss"] == 0.5
    assert [p.name for p in (tmp_path / "trials").iterdir()] == ["t1.parquet"]  # no temp file left behind


def test_one_schema_types_params_from_the_budget_and_refuses_undeclared_columns():
    """Every row of a sweep has the same columns and types, whatever the trial did (a null is a typed null)."""
    spaces = [{"max_len": tune.choice(["auto", 64]), "lr": tune.loguniform(1e-3, 1e-1), "units": tune.choice([64]),
               "bidirectional": tune.choice([False, True]), "layers": tune.randint(1, 3), "patience": 4}]
    types = ledger.param_types(spaces)
    assert types == {"param_bidirectional": "bool", "param_layers": "int64", "param_lr": "double",
                     "param_max_len": "string", "param_patience": "int64", "param_units": "int64"}
    full = ledger.make_row({"trial_id": "a", "status": "ok", "param_max_len": 64, "test_acc": 0.5, "epochs": 3},
                           types)
    failed = ledger.make_row({"trial_id": "b", "status": "error", "error": "boom"}, types)
    assert full.schema == failed.schema and full.column("param_max_len").to_pylist() == ["64"]
    assert failed.schema.field("test_acc").type == "double" and failed.column("test_acc").null_count == 1
    with pytest.raises(ledger.SchemaError, match="row c: surprise not in the result schema"):
        ledger.make_row({"trial_id": "c", "status": "ok", "surprise": 1}, types)


def test_row_rejects_unknown_status():
    with pytest.raises(ValueError, match="status"):
        ledger.make_row({"status": "great"})


def test_demo_data_is_deterministic(tmp_path):
    from trainables.common import fingerprint
    from trainables.demo import generate_demo

    a, b = generate_demo(tmp_path / "a", seed=0), generate_demo(tmp_path / "b", seed=0)
    for name in ("faces", "questions"):
        assert fingerprint(a / name, content=True) == fingerprint(b / name, content=True)
    assert len(list((a / "faces" / "train").iterdir())) == 31  # the course's class count


def test_budget_carries_per_method_asha_settings():
    full = load_budget("full")
    assert full.method("recurrent").asha == Asha(grace_period=3, reduction_factor=3)
    assert load_budget("smoke").method("recurrent").asha == Asha()  # the scheduler's defaults


def test_per_dataset_space_entries_apply_to_that_dataset_only(tmp_path):
    recurrent = load_budget("text_cpu").method("recurrent")
    questions = sample_configs(recurrent.space_for("questions"), 6, seed=1)
    sentiment = sample_configs(recurrent.space_for("sentiment"), 6, seed=1)
    assert {c["max_tokens"] for c in questions} <= {1500, 2000, 3000}
    assert {c["max_tokens"] for c in sentiment} <= {8000, 18298}
    newsgroups = sample_configs(recurrent.space_for("newsgroups"), 4, 1)
    assert all(c["max_len"] == 300 and c["layers"] == 1 for c in newsgroups)
    assert "max_tokens" not in recurrent.space_for("rnn-less-dataset")  # only the listed datasets change
    bad = tmp_path / "bad.yaml"
    bad.write_text("val_fraction: 0.2\nimages: {}\ntext: {}\nresources: {}\n"
                   "methods: {recurrent: {num_samples: 1, space: {lr: 0.1}, datasets: {imdb: {lr: 0.2}}}}\n")
    with pytest.raises(BudgetError, match=r"methods.recurrent.datasets: unknown dataset\(s\) imdb; expected names"):
        load_budget(str(bad))


@pytest.mark.parametrize("text", ["just a string\n", "", "val_fraction: 0.2\n"])
def test_a_budget_that_is_not_a_mapping_says_what_a_budget_holds(tmp_path, text):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(BudgetError, match=r"bad.yaml: a budget is a mapping with val_fraction, .* methods"):
        load_budget(str(bad))


def test_above_chance_counts_each_methods_selected_trials_against_their_classes():
    """2x chance is 0.2 with 10 classes and 0.5 with 4: per method, the jobs with a result and how many reach it."""
    import json

    import pandas as pd

    from analysis.tables import above_chance

    jobs = pd.DataFrame({"method": ["finetune", "finetune", "features_svm", "recurrent"],
                         "outcome": ["ok", "ok", "ok", "error"], "test_acc": [0.19, 0.6, 0.5, None],
                         "best_trial": ["a", "b", "c", None]})
    classes = [json.dumps(list(names)) for names in ("abcdefghij", "abcd", "ab")]
    trials = pd.DataFrame({"trial_id": ["a", "b", "c"], "classes": classes})
    table = above_chance(jobs, trials)
    assert table.to_dict("records") == [
        {"method": "features_svm", "jobs": 1, "at_2x_chance": 0, "lowest_x_chance": 1.0},
        {"method": "finetune", "jobs": 2, "at_2x_chance": 1, "lowest_x_chance": 1.9}]
