"""CIFAR-100 for the handout's warm-up: its python pickles read as uint8 arrays (no torch, no TensorFlow), their
checks and counts, the download where a network exists, and a writer of the same format (the demo generator's).

Layout: torchvision's `<root>/cifar-100-python/{train,test,meta}` (or those three files in `<root>`): `train` and
`test` hold `data` (N x 3072 uint8, channel-major 32 x 32) and `fine_labels`; `meta` holds `fine_label_names`. The
files are pickles, as CIFAR ships them: read only CIFAR files you trust.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from trainables.common import DataError, cap_per_class
from trainables.data.layout import Layout
from core.hparams import CIFAR_AUGMENT as AUGMENT
from core.plan import ImageCaps

FILES = ("train", "test", "meta")
SIDE = 32
PAD = 4
URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"  # what torchvision.datasets.CIFAR100 fetches


def _load(path: Path, keys: tuple[str, ...]) -> dict:
    try:
        with open(path, "rb") as handle:
            entry = pickle.load(handle, encoding="latin1")
    except Exception as exc:  # a truncated or foreign file raises many types (EOFError, UnpicklingError, ...)
        raise DataError(f"{path}: not a CIFAR python pickle ({type(exc).__name__}); expected cifar-100-python's "
                        f"train / test / meta files") from None
    missing = [k for k in keys if not isinstance(entry, dict) or k not in entry]
    if missing:
        raise DataError(f"{path}: missing key(s) {', '.join(missing)}; expected CIFAR-100's {', '.join(keys)}")
    return entry


def cifar_root(path: Path) -> Path | None:
    """The folder holding CIFAR-100's train / test / meta pickles (torchvision's cifar-100-python/ or the folder)."""
    for folder in (path / "cifar-100-python", path):
        if all((folder / name).is_file() for name in FILES):
            return folder
    return None


def read_classes(root: Path) -> list[str]:
    folder = _folder(root)
    return [str(name) for name in _load(folder / "meta", ("fine_label_names",))["fine_label_names"]]


def read_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images N x 32 x 32 x 3 uint8, fine labels) of `train` or `test`, checked against the class list."""
    folder = _folder(root)
    entry = _load(folder / split, ("data", "fine_labels"))
    data, labels = np.asarray(entry["data"]), np.asarray(entry["fine_labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * SIDE * SIDE or len(data) != len(labels):
        raise DataError(f"{folder / split}: data {data.dtype} {data.shape} with {len(labels)} labels; expected "
                        f"uint8 N x {3 * SIDE * SIDE} and N fine_labels")
    n_classes = len(read_classes(root))
    if len(labels) == 0 or labels.min() < 0 or labels.max() >= n_classes:
        raise DataError(f"{folder / split}: fine_labels outside 0..{n_classes - 1} (or none); expected class indices "
                        f"into meta's fine_label_names")
    return data.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1), labels


def _folder(root: Path) -> Path:
    folder = cifar_root(root)
    if folder is None:
        raise DataError(f"{root}: no CIFAR-100 files; expected {root}/cifar-100-python/{{train,test,meta}}")
    return folder


def cifar_counts(root: Path) -> dict[str, int]:
    """Classes, train and test images the files hold, after their checks."""
    train_y, test_y = read_split(root, "train")[1], read_split(root, "test")[1]
    if len(np.unique(train_y)) < 2:
        raise DataError(f"{_folder(root) / 'train'}: a single class; expected at least 2")
    return {"n_classes": len(read_classes(root)), "n_train_files": len(train_y), "n_test_files": len(test_y),
            "per_class": None}


def load_cifar(root: Path, caps: ImageCaps, seed: int):
    """(classes, (train x, y), (test x, y)) with the budget's per-class caps (HWC uint8 arrays)."""
    out = []
    for split, cap in (("train", caps.max_train_per_class), ("test", caps.max_test_per_class)):
        x, y = read_split(root, split)
        keep = cap_per_class(y, cap, seed)
        out.append((x[keep], y[keep]))
    return read_classes(root), out[0], out[1]


def download(root: Path) -> Path:
    """Fetch CIFAR-100 into `root` with torchvision (checksummed); OSError where there is no network."""
    from torchvision.datasets import CIFAR100

    try:
        CIFAR100(str(root), train=True, download=True)
    except Exception as exc:  # urllib's URLError, a checksum RuntimeError...
        raise OSError(f"cannot download {URL} ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None
    return root


def write_cifar(root: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]], classes: list[str]) -> Path:
    """Write HWC uint8 images and labels in CIFAR-100's python format under `root/cifar-100-python/`."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for split, (x, y) in splits.items():
        entry = {"data": x.transpose(0, 3, 1, 2).reshape(len(x), -1), "fine_labels": [int(v) for v in y],
                 "filenames": [f"{split}_{i:05d}.png" for i in range(len(x))]}
        (folder / split).write_bytes(pickle.dumps(entry, protocol=2))
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": list(classes)}, protocol=2))
    return root


def for_trial(root: Path, trial) -> tuple[list[str], list[tuple[np.ndarray, np.ndarray]], int]:
    """What both frameworks' scratch_cnn trials start from: (classes, [train, val, test] arrays, epochs), after
    checking the trial's `augment` value; preparing the data counts as the trial's extract phase."""
    params = trial.params
    if params.get("augment", "none") not in AUGMENT:
        raise ValueError(f"params.augment: unknown policy {params['augment']!r}; expected one of {AUGMENT}")
    with trial.phase("extract"):
        classes, *splits = prepare(root, trial.spec.images, trial.spec.val_fraction, trial.spec.data_seed)
    return classes, splits, trial.spec.epochs


def prepare(root: Path, caps: ImageCaps, val_fraction: float, seed: int):
    """What both frameworks' scratch_cnn train on: (classes, train, val, test) as (x, y) with x float32 N x 32 x 32
    x 3, standardised per channel by the training split's mean and std, and a stratified validation split carved
    from train (test is untouched until the final number)."""
    from trainables.common import stratified_split

    classes, (x, y), test = load_cifar(root, caps, seed)
    keep, held = stratified_split(y, val_fraction, seed)
    mean = x[keep].reshape(-1, 3).mean(axis=0, dtype=np.float64)
    std = x[keep].reshape(-1, 3).std(axis=0, dtype=np.float64) + 1e-6

    def scaled(images: np.ndarray) -> np.ndarray:
        return ((images.astype(np.float32) - mean.astype(np.float32)) / std.astype(np.float32))

    return classes, (scaled(x[keep]), y[keep]), (scaled(x[held]), y[held]), (scaled(test[0]), test[1])


class CifarKind:
    """The cifar kind of dataset files (trainables.data.kinds.DataKind): CIFAR-100's pickles, with their own split."""

    def infer(self, path: Path, text_column: str, label_column: str) -> Layout | None:
        return Layout("cifar") if path.is_dir() and cifar_root(path) is not None else None

    def counts(self, root: Path, layout: Layout) -> dict:
        return cifar_counts(root)

    def split_members(self, root: Path, layout: Layout) -> tuple[list, list]:
        raise DataError(f"{root}: CIFAR-100 holds its own test split; nothing to hold out")

    def check_listing(self, location: str, listing: dict) -> None:
        if not any({f"{folder}{name}" for name in FILES} <= set(listing) for folder in ("cifar-100-python/", "")):
            raise DataError(f"{location}: no CIFAR-100 files (expected cifar-100-python/{{train,test,meta}})")

    def listing_counts(self, listing: dict) -> dict:  # the pickled images are counted from the files
        return {"n_classes": None, "n_train_files": None, "n_test_files": None, "per_class": None}

    def infer_listing(self, top: set[str]) -> Layout | None:
        return None  # the course's cifar100 is read from a bucket as a course dataset; a user's is not inferred

    def fetch(self, location: Path) -> bool:
        """CIFAR-100 missing: torchvision downloads it where a network exists (once, on the driver)."""
        print(f"{location}: no CIFAR-100 there; downloading {URL} with torchvision", flush=True)
        try:
            download(location)
        except OSError as exc:
            raise DataError(f"{location}: no CIFAR-100 files and {exc}; fetch cifar-100-python.tar.gz where there "
                            f"is internet and unpack it into {location}") from None
        return True

    def write_demo(self, root: Path, n_classes: int, rng) -> None:
        """The demo's drawings (trainables.demo) at 32 x 32, in CIFAR-100's python format."""
        import numpy as np

        from trainables.demo import CIFAR_PER_CLASS, draw_image

        splits = {}
        for split, per_class in CIFAR_PER_CLASS.items():
            labels = np.repeat(np.arange(n_classes), per_class)
            images = np.stack([np.asarray(draw_image(rng, int(label), n_classes, SIDE)) for label in labels])
            splits[split] = (images, labels)
        write_cifar(root, splits, [f"class_{label:02d}" for label in range(n_classes)])


CIFAR = CifarKind()
