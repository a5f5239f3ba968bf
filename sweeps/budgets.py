"""Named budgets (sweeps/budgets/<name>.yaml) and the search spaces they carry.

A budget is data: per-method `num_samples`, `max_epochs` and a search `space`, plus data caps and trial resources.
Space values use a tiny syntax (sweeps.domains: Ray Tune's draws, without Ray) — `{choice: [...]}`,
`{loguniform: [lo, hi]}`, `{uniform: [lo, hi]}`, `{randint: [lo, hi]}`, `{cycle: [...]}` (sample i takes the i-th
value, round robin) — and a plain value is a fixed hyperparameter. A method's
`datasets: {<name>: {key: value}}` replaces space entries for that dataset's jobs only.
"""
from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from core.hparams import Param
from core.plan import Asha, ImageCaps, Resources, TextCaps
from core.registry import METHODS, MethodSpec, list_datasets
from sweeps.domains import DOMAINS, Choice, Cycle, LogUniform, RandInt, Uniform
from core import yamlfile

BUDGET_DIR = Path(__file__).parent / "budgets"


class BudgetError(ValueError):
    """A budget file is missing or malformed."""


@dataclass(frozen=True)
class MethodBudget:
    num_samples: int
    max_epochs: int | None
    space: dict[str, Any]  # name -> a sweeps.domains domain or a fixed value
    asha: Asha = Asha()  # early stopping for this method's jobs
    # per-dataset entries over `space`: a dataset's own facts (questions are ten words, newsgroups posts hundreds)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    search: str = "random"  # how the job's configurations are chosen (SEARCHES; sweeps.search)

    def space_for(self, dataset: str) -> dict[str, Any]:
        return self.space | self.datasets.get(dataset, {})


@dataclass(frozen=True)
class Budget:
    name: str
    description: str
    val_fraction: float
    checkpoint_every: int  # epochs between checkpoints; 0 = none (cheap smoke runs)
    images: ImageCaps
    text: TextCaps
    resources: Resources
    methods: dict[str, MethodBudget] = field(repr=False)

    def method(self, name: str) -> MethodBudget:
        if name not in self.methods:
            raise BudgetError(f"budget {self.name!r} has no entry for method {name!r} (methods.{name} in its YAML)")
        return self.methods[name]


def list_budgets() -> list[str]:
    return sorted(p.stem for p in BUDGET_DIR.glob("*.yaml"))


# The budget's own sections, what each key takes, and what a missing key means (null: no cap, each backbone's size).
SECTIONS = {
    "images": {"image_size": Param(int, ge=16, null=True), "max_train_per_class": Param(int, ge=1, null=True),
               "max_test_per_class": Param(int, ge=1, null=True)},
    "text": {"max_train": Param(int, ge=1, null=True), "max_test": Param(int, ge=1, null=True),
             "max_tokens": Param(int, ge=2, null=True), "max_len_cap": Param(int, ge=1)},
    "resources": {"cpus_per_trial": Param(int, ge=1), "gpus_per_trial": Param(float, ge=0)},
}
TYPED = {"images": ImageCaps, "text": TextCaps, "resources": Resources}  # a missing key takes the class default
TOP = {"val_fraction": Param(float, gt=0, lt=1, required=True), "checkpoint_every": Param(int, ge=0)}
# random: every configuration drawn up front from the space (reproducible trial ids); tpe: Optuna's TPE through Ray
# Tune's OptunaSearch, each configuration asked when its trial starts, from the job's finished trials (sweeps.search)
SEARCHES = ("random", "tpe")
SEARCHED = (Choice, Uniform, LogUniform, RandInt)  # what a model-based search chooses (sweeps.search.optuna_space)
METHOD = {"num_samples": Param(int, ge=1, required=True), "max_epochs": Param(int, ge=1, null=True),
          "search": Param(str, words=SEARCHES)}
ASHA = {"grace_period": Param(int, ge=1), "reduction_factor": Param(float, gt=1)}
SHAPE = ("a budget is a mapping with val_fraction, images, text, resources and methods (method -> num_samples, "
         "space)")


def _mapping(where: str, value: Any, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BudgetError(f"{where}: expected a mapping of {what}, got {value!r}")
    return value


def _at(where: str, key: object) -> str:
    """A key path: `file: methods.finetune.space.lr` (the file's own keys follow its name and a colon)."""
    return f"{where}{' ' if where.endswith(':') else '.'}{key}"


def _known(where: str, mapping: dict, valid: list[str], what: str) -> None:
    """Every key of `mapping` is one of `valid`; a typo names the key, the closest valid one and the rest."""
    for key in mapping:
        if key not in valid:
            near = difflib.get_close_matches(str(key), valid, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise BudgetError(f"{_at(where, key)}: unknown {what}{hint}; valid: {', '.join(valid)}")


def _checked(where: str, mapping: dict, params: dict[str, Param], what: str) -> dict:
    """`mapping` with its keys known, its plain values allowed and its required keys present."""
    _known(where, mapping, list(params), what)
    for key, value in mapping.items():
        if problem := params[key].problem(value):
            raise BudgetError(f"{_at(where, key)}: {problem}")
    missing = [key for key, param in params.items() if param.required and key not in mapping]
    if missing:
        raise BudgetError(f"{where}: missing {', '.join(missing)}")
    return mapping


def space_entry(where: str, value: Any, param: Param | None = None) -> Any:
    """A space entry as a fixed value or a domain (sweeps.domains), each of its values checked against `param` when
    given."""
    if not isinstance(value, dict):
        if param and (problem := param.problem(value)):
            raise BudgetError(f"{where}: {problem}")
        return value
    if len(value) != 1 or next(iter(value)) not in DOMAINS:
        raise BudgetError(f"{where}: expected a value or one of {{{', '.join(DOMAINS)}: ...}}, got {value!r}")
    kind, args = next(iter(value.items()))
    if not isinstance(args, list) or not args:
        raise BudgetError(f"{where}.{kind}: expected a list, got {args!r}")
    if kind not in ("choice", "cycle") and param and param.kind not in (int, float):
        raise BudgetError(f"{where}.{kind}: {where.rsplit('.', 1)[-1]} takes {param.expected()}; list them with "
                          f"{{choice: [...]}}")
    numbers = len(args) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in args)
    if kind not in ("choice", "cycle") and not numbers:
        raise BudgetError(f"{where}.{kind}: expected [low, high], got {args!r}")
    ends = args if kind in ("choice", "cycle") else [args[0], args[1] - 1 if kind == "randint" else args[1]]
    for end in ends if param else ():
        if problem := param.problem(end):
            raise BudgetError(f"{where}.{kind}: {problem}")
    try:
        return DOMAINS[kind](args)
    except (TypeError, ValueError) as exc:
        raise BudgetError(f"{where}: bad {kind} arguments {args!r} ({exc})") from None


def _space(where: str, method: MethodSpec, entries: Any, complete: bool) -> dict[str, Any]:
    """A method's space (complete: every required parameter present) or a dataset's entries over it."""
    entries = _mapping(where, entries, f"{method.name}'s parameters")
    _known(where, entries, sorted(method.params), f"parameter of {method.name}")
    space = {key: space_entry(f"{where}.{key}", value, method.params[key]) for key, value in entries.items()}
    missing = [k for k, p in method.params.items() if p.required and k not in entries] if complete else []
    if missing:
        raise BudgetError(f"{where}: missing {', '.join(missing)} ({method.name} reads them; a fixed value or a "
                          f"domain each)")
    return space


def _method_budget(file: str, name: str, spec: Any) -> MethodBudget:
    where = f"{file}: methods.{name}"
    if name not in METHODS:
        raise BudgetError(f"{where}: unknown method; valid: {', '.join(METHODS.names())}")
    method = METHODS.get(name)
    spec = _mapping(where, spec, "num_samples, max_epochs, search, space, asha, datasets")
    _known(where, spec, list(METHOD) + ["space", "asha", "datasets"], "key of a method")
    _checked(where, {k: v for k, v in spec.items() if k in METHOD}, METHOD, "key of a method")
    overrides = _mapping(f"{where}.datasets", spec.get("datasets"), "dataset -> parameters")
    unknown = sorted(set(overrides) - set(list_datasets()))
    if unknown:
        raise BudgetError(f"{where}.datasets: unknown dataset(s) {', '.join(unknown)}; "
                          f"expected names from {', '.join(list_datasets())}")
    space = _space(f"{where}.space", method, spec.get("space"), complete=True)
    datasets = {d: _space(f"{where}.datasets.{d}", method, over, complete=False) for d, over in overrides.items()}
    asha = _checked(f"{where}.asha", _mapping(f"{where}.asha", spec.get("asha"), "ASHA settings"), ASHA,
                    "ASHA setting")
    search = spec.get("search", "random")
    if search != "random":
        for place, entries in [("space", space)] + [(f"datasets.{d}", e) for d, e in datasets.items()]:
            cycled = sorted(k for k, v in entries.items() if isinstance(v, Cycle))
            if cycled:
                raise BudgetError(f"{where}.{place}.{cycled[0]}: cycle assigns values by sample number, which "
                                  f"search: {search} does not keep; use {{choice: [...]}} or search: random")
        for place, entries in [("space", space)] + [(f"datasets.{d}", space | e) for d, e in datasets.items()]:
            if not any(isinstance(v, SEARCHED) for v in entries.values()):
                raise BudgetError(f"{where}.{place}: search: {search} has nothing to search (every parameter is a "
                                  f"fixed value); give one a domain such as {{choice: [...]}}, or use search: random")
    return MethodBudget(int(spec["num_samples"]), spec.get("max_epochs"), space, Asha(**asha), datasets, search)


def _section(file: str, raw: dict, name: str) -> Any:
    where = f"{file}: {name}"
    return TYPED[name](**_checked(where, _mapping(where, raw.get(name), ", ".join(SECTIONS[name])),
                                  SECTIONS[name], f"{name} setting"))


def parse_budget(path: Path, raw: Any) -> Budget:
    """A budget from its parsed YAML, every key and value checked (one BudgetError line naming file and key path)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("methods"), dict):
        found = type(raw).__name__ if not isinstance(raw, dict) else "no methods: mapping"
        raise BudgetError(f"{path}: {SHAPE}; found {found}")
    _known(f"{path}:", raw, ["description", *TOP, *SECTIONS, "methods"], "key of a budget")
    _checked(f"{path}:", {k: v for k, v in raw.items() if k in TOP}, TOP, "key of a budget")
    if not isinstance(raw.get("description", ""), str):
        raise BudgetError(f"{path}: description: expected text, got {raw['description']!r}")
    methods = {m: _method_budget(str(path), m, spec) for m, spec in raw["methods"].items()}
    images, text, resources = (_section(str(path), raw, name) for name in SECTIONS)
    return Budget(path.stem, raw.get("description", ""), float(raw["val_fraction"]),
                  int(raw.get("checkpoint_every", 1)), images, text, resources, methods)


def load_budget(name_or_path: str) -> Budget:
    """Load a budget by name (sweeps/budgets/<name>.yaml) or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = BUDGET_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise BudgetError(f"--budget: no budget {name_or_path!r}; valid: {', '.join(list_budgets())} or a .yaml path")
    try:
        raw = yamlfile.loads(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:  # a key given twice too (yamlfile.DuplicateKey)
        raise BudgetError(yamlfile.describe_error(path, exc)) from None
    return parse_budget(path, raw)


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from any parts (stable across processes, unlike hash())."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def sample_configs(space: dict[str, Any], num_samples: int, seed: int) -> list[dict[str, Any]]:
    """Draw `num_samples` configurations reproducibly: the same seed gives the same configurations."""
    rng = np.random.RandomState(seed)
    configs = []
    for i in range(num_samples):
        config = {}
        for key in sorted(space):  # sorted: the draw order must not depend on YAML key order
            value = space[key]
            if isinstance(value, Cycle):
                config[key] = value.at(i)
            else:
                config[key] = value.sample(random_state=rng) if hasattr(value, "sample") else value
        configs.append({k: v.item() if isinstance(v, np.generic) else v for k, v in config.items()})
    return configs
