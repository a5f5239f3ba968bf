"""Download backbone ImageNet weights ahead of a sweep, into a TORCH_HOME-style folder.

    python -m trainables.images.prefetch                      # every course backbone, into $TORCH_HOME
    python -m trainables.images.prefetch resnet18 vgg16 --dest /shared/torch

Point TORCH_HOME at --dest on every node (a cluster's shared storage, or copy the files to each node's
$TORCH_HOME/hub/checkpoints/); trials then load weights without any network.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from pathlib import Path

from trainables.images.specs import backbone_spec
from core.registry import UnknownNameError, list_backbones

HASH_IN_NAME = re.compile(r"-([a-f0-9]*)\.")  # torch.hub.HASH_REGEX: the sha256 prefix in a weights file's name


def weights_path(name: str, torch_home: Path) -> tuple[str, Path]:
    from torchvision import models

    url = models.get_model_weights(name)[backbone_spec(name).weights].url
    return url, torch_home / "hub" / "checkpoints" / os.path.basename(url)


class DamagedWeights(OSError):
    """A weights file whose contents are not the file its name promises (a truncated or corrupted download)."""


def hash_prefix(path: Path) -> str | None:
    """The sha256 prefix a torchvision weights file's name carries (`resnet18-f37072fd.pth`), as torch.hub reads it."""
    match = HASH_IN_NAME.search(path.name)
    return match.group(1) if match else None


def weights_problem(path: Path) -> str | None:
    """Why the file at `path` is not the weights its name promises, or None when its sha256 starts with the name's
    prefix (torch.hub's check_hash rule; a name without one is taken as it is)."""
    expected = hash_prefix(path)
    if expected is None:
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    found = digest.hexdigest()
    if found.startswith(expected):
        return None
    return (f"{path}: damaged weights file ({path.stat().st_size:,} bytes, sha256 {found[:len(expected)]}..., its "
            f"name says {expected}...: a truncated or corrupted download)")


def replace_command(names: list[str], torch_home: Path) -> str:
    return f"groupsweep weights prefetch {' '.join(names)} --dest {torch_home}"


def prefetch(names: list[str], torch_home: Path, replace_damaged: bool = False) -> list[Path]:
    """Make sure each backbone's weights file is under `torch_home` and is the file its name promises: download
    the missing ones (hash-checked by torch.hub); a damaged one is downloaded anew with `replace_damaged`, else
    DamagedWeights names it with the command that replaces it."""
    import torch

    paths = []
    for name in names:
        url, path = weights_path(name, torch_home)
        problem = weights_problem(path) if path.exists() else None
        if problem and not replace_damaged:
            raise DamagedWeights(f"{problem}; replace it with `{replace_command([name], torch_home)}` where there is "
                                 f"internet")
        if problem:
            print(f"{problem}; downloading it again", flush=True)
        if not path.exists() or problem:
            path.parent.mkdir(parents=True, exist_ok=True)
            digest = hash_prefix(path)  # torchvision file names end in a sha256 prefix
            try:
                torch.hub.download_url_to_file(url, str(path), hash_prefix=digest, progress=False)
            except Exception as exc:
                raise OSError(f"{name}: cannot download {url} to {path} ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
        paths.append(path)
    return paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", default=list_backbones(), help="backbones (default: every course one)")
    parser.add_argument("--dest", type=Path, default=None, help="TORCH_HOME to fill (default: $TORCH_HOME)")


def run(args: argparse.Namespace) -> int:
    import torch

    home = args.dest or Path(torch.hub.get_dir()).parent
    try:
        for path in prefetch(args.names, home, replace_damaged=True):
            print(f"ok {path}")
    except (OSError, UnknownNameError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"export TORCH_HOME={home}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainables.images.prefetch", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
