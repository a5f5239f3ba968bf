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


@pytest.mark.parametrize("width,height,size", [(50, 37, 16), (37, 61, 16)])
def test_the_handout_preset_is_the_handouts_resize_to_a_square(tmp_path, width, height, size):
    """`preset: handout` caches exactly torchvision's Resize((size, size)) of the file: the whole image, squeezed.
    A red band along the left border survives it; the reference preset's centre crop cuts it away."""
    import torch
    from PIL import Image
    from torchvision.transforms import v2

    from trainables.images.data import decode, resize_size

    pixels = np.random.default_rng(0).integers(0, 200, (height, width, 3), dtype=np.uint8)
    pixels[:, : max(2, width // 12)] = (255, 0, 0)
    path = tmp_path / "x.png"
    Image.fromarray(pixels).save(path)
    with Image.open(path) as image:
        for crop in (size, resize_size(size)):
            handout = v2.Compose([v2.Resize((crop, crop)), v2.PILToTensor()])(image)
            assert torch.equal(decode(path, size, crop, "handout"), handout), crop
    squeezed, cropped = decode(path, size, preset="handout"), decode(path, size)
    assert (squeezed[0, :, 0] > 240).all() and (squeezed[1, :, 0] < 40).all()  # the band is the left column
    assert width < height or (cropped[0, :, 0] < 240).any()  # a wide image's centre crop loses it


def test_a_preset_choice_travels_from_the_budget_to_the_rows_and_the_caches(tiny_budget, make_options, demo_root,
                                                                            tmp_path):
    """features_svm searching `preset: {cycle: [reference, handout]}`: its two trials use one preset each, each row
    says which (the column `preset` and the searched `param_preset`), and each preset has its own images and
    features in the cache (keys differ), so neither trial reads the other's."""
    import dataclasses

    from core.course import Job
    from core.results import load_trials
    from sweeps.budgets import load_budget
    from sweeps.runner import run_sweep
    from tests.conftest import TINY

    scaler = "      scaler: {choice: [standard, l2]}\n"
    text = TINY.read_text().replace(scaler, scaler + "      preset: {cycle: [reference, handout]}\n", 1)
    (tmp_path / "presets.yaml").write_text(text)
    budget = load_budget(str(tmp_path / "presets.yaml"))
    assert budget.method("features_svm").space["preset"] is not None
    summary = run_sweep(make_options({Job(1, "animals", "resnet18", "features_svm"): []}, demo_root,
                                     budget=dataclasses.replace(budget, name="presets")))
    rows = load_trials(summary.sweep_dir)
    assert set(rows["status"]) == {"ok"} and sorted(rows["preset"]) == ["handout", "reference"]
    assert (rows["preset"] == rows["param_preset"]).all()
    cache = tmp_path / "runs" / "cache"
    assert len(list(cache.glob("features/*.npz"))) == 2 and len(list(cache.glob("images/*.pt"))) == 4
