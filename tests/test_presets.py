"""The image presets are torchvision's references' (presets.py), per backbone input size: what the tensor cache
holds is exactly Resize(size / 0.875) + CenterCrop(size) of the file (evaluation, every method), and augmented
training crops RandomResizedCrop(size) from the same resized image, so train and test see objects at one scale."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("width,height,size", [(50, 37, 16), (37, 61, 16), (80, 80, 24)])
def test_cached_images_are_torchvisions_eval_preset(tmp_path, width, height, size):
    import torch
    from PIL import Image
    from torchvision.transforms import v2

    from trainables.images.data import decode, resize_size

    rng = np.random.default_rng(0)
    path = tmp_path / "x.png"  # lossless: the comparison is exact
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    with Image.open(path) as image:
        for crop in (size, resize_size(size)):  # evaluation, and the square augmentation crops from
            reference = v2.Compose([v2.Resize(resize_size(size)), v2.CenterCrop(crop), v2.PILToTensor()])(image)
            assert torch.equal(decode(path, size, crop), reference), crop
    assert resize_size(224) == 256 and resize_size(299) == 342


def test_augmented_training_crops_the_cached_square_to_the_input_size():
    import torch

    from trainables.images.data import Augment, Split, batches, resize_size

    source = Split(torch.randint(0, 256, (6, 3, resize_size(16), resize_size(16)), dtype=torch.uint8),
                   np.arange(6) % 2)
    for policy in ("flip_crop", "flip_crop_color_affine"):
        x, y = next(batches(source, 6, torch.device("cpu"), shuffle=True, transform=Augment(policy, 16)))
        assert tuple(x.shape) == (6, 3, 16, 16) and len(y) == 6
