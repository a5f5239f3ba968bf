"""Download backbone ImageNet weights ahead of a sweep, into a TORCH_HOME-style folder.

    python -m trainables.images.prefetch                      # every course backbone, into $TORCH_HOME
    python -m trainables.images.prefetch resnet18 vgg16 --dest /shared/torch

Point TORCH_HOME at --dest on every node (a cluster's shared storage, or copy the files to each node's
$TORCH_HOME/hub/checkpoints/); trials then load weights without any network.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from trainables.images.specs import backbone_spec
from trainables.registry import UnknownNameError, list_backbones


def weights_path(name: str, torch_home: Path) -> tuple[str, Path]:
    from torchvision import models

    url = models.get_model_weights(name)[backbone_spec(name).weights].url
    return url, torch_home / "hub" / "checkpoints" / os.path.basename(url)


def prefetch(names: list[str], torch_home: Path) -> list[Path]:
    """Make sure each backbone's weights file is under `torch_home`; download the missing ones (hash-checked)."""
    import torch

    paths = []
    for name in names:
        url, path = weights_path(name, torch_home)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            digest = path.stem.rsplit("-", 1)[-1]  # torchvision file names end in a sha256 prefix
            try:
                torch.hub.download_url_to_file(url, str(path), hash_prefix=digest, progress=False)
            except Exception as exc:
                raise OSError(f"{name}: cannot download {url} to {path} ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainables.images.prefetch", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list_backbones(), help="backbones (default: every course one)")
    parser.add_argument("--dest", type=Path, default=None, help="TORCH_HOME to fill (default: $TORCH_HOME)")
    args = parser.parse_args(argv)
    import torch

    home = args.dest or Path(torch.hub.get_dir()).parent
    try:
        for path in prefetch(args.names, home):
            print(f"ok {path}")
    except (OSError, UnknownNameError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"export TORCH_HOME={home}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
