"""Every backbone through the one builder: feature width, replaced heads, freezing modes, weights handling."""
from __future__ import annotations


import pytest
import torch

from trainables.images import backbones
from trainables.images.specs import backbone_spec
from core.registry import BACKBONES, UnknownNameError, list_backbones

COURSE_DIMS = {"alexnet": 4096, "vgg16": 4096, "resnet18": 512, "inception_v3": 2048, "densenet121": 1024,
               "mobilenet_v2": 1280}


@pytest.mark.parametrize("name", list_backbones())
def test_features_and_heads_at_tiny_input(name):
    torch.manual_seed(0)
    spec = BACKBONES.get(name)
    size = spec.min_size
    assert spec.feature_dim == COURSE_DIMS[name]
    x = torch.randn(2, 3, size, size)
    with torch.inference_mode():
        features = backbones.feature_extractor(name, "random")(x)
        assert features.shape == (2, spec.feature_dim)
        model = backbones.classifier(name, 7, "random", size).eval()
        assert model(x).shape == (2, 7)
    assert backbones.get_module(model, spec.head).out_features == 7


def test_each_entrys_gflops_are_torchvisions_own():
    """The work facts the plan prices trials by are the ones torchvision publishes with each backbone's weights."""
    from torchvision.models import get_model_weights

    for name in list_backbones():
        spec = BACKBONES.get(name)
        assert spec.gflops == get_model_weights(name)[spec.weights].meta["_ops"], name
        assert spec.gflops_at(spec.input_size / 2) == pytest.approx(spec.gflops / 4)
    assert BACKBONES.get("vgg16").gflops / BACKBONES.get("alexnet").gflops > 20


def test_inception_keeps_its_auxiliary_head_at_full_size():
    model = backbones.classifier("inception_v3", 5, "random", 299).train()
    logits, aux = model(torch.randn(2, 3, 299, 299))
    assert logits.shape == aux.shape == (2, 5)
    small = backbones.classifier("inception_v3", 5, "random", 75).train()
    assert small(torch.randn(2, 3, 75, 75)).shape == (2, 5)  # aux dropped: it cannot run below 299


@pytest.mark.parametrize("mode, trainable_layers", [
    ("head", {"fc"}),
    ("last1", {"fc"}),
    ("last3", {"fc", "layer4.1.conv2", "layer4.1.bn2", "layer4.1.conv1", "layer4.1.bn1"}),
])
def test_freezing_modes(mode, trainable_layers):
    model = backbones.classifier("resnet18", 4, "random", 32)
    groups = backbones.param_groups(model, BACKBONES.get("resnet18"), mode, lr=0.1, head_lr_mult=10)
    trained = {n.rsplit(".", 1)[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trained == trainable_layers
    assert sum(len(g["params"]) for g in groups) == sum(p.requires_grad for p in model.parameters())


def test_head_lr_mode_trains_everything_with_a_faster_head():
    model = backbones.classifier("alexnet", 4, "random", 63)
    groups = backbones.param_groups(model, BACKBONES.get("alexnet"), "head_lr", lr=0.01, head_lr_mult=10)
    assert [g["lr"] for g in groups] == [0.1, 0.01]
    assert all(p.requires_grad for p in model.parameters())


def test_any_torchvision_classifier_by_name():
    spec = backbone_spec("resnet50")
    assert (spec.head, spec.feature_dim, spec.input_size) == ("fc", 2048, 224)
    assert backbones.classifier("resnet50", 3, "random", 32)(torch.randn(2, 3, 32, 32)).shape == (2, 3)
    with pytest.raises(UnknownNameError, match="unknown backbone 'resnet9000'"):
        backbone_spec("resnet9000")


def test_missing_weights_name_the_file_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(backbones.WeightsError) as err:
        backbones.load("resnet18", "imagenet")
    message = str(err.value)
    assert str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert "groupsweep weights prefetch" in message and "\n" not in message


def test_real_mobilenet_weights_load_offline(torch_home):
    model = backbones.load("mobilenet_v2", "imagenet")
    reference = torch.load(torch_home / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth", weights_only=True)
    assert torch.equal(model.state_dict()["features.0.0.weight"], reference["features.0.0.weight"])


def test_prefetch_keeps_present_files_and_names_missing_ones(torch_home, tmp_path, monkeypatch):
    import urllib.error

    from trainables.images.prefetch import prefetch

    assert prefetch(["mobilenet_v2"], torch_home) == [torch_home / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth"]

    def offline(url, dst, **kw):  # the network, not the code under test: this machine has none anyway
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(OSError) as err:
        prefetch(["resnet18"], tmp_path)
    assert "resnet18: cannot download https://download.pytorch.org/models/resnet18-f37072fd.pth" in str(err.value)
    assert not (tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth").exists()


def test_unknown_mode_is_a_clear_error():
    model = backbones.classifier("resnet18", 4, "random", 32)
    with pytest.raises(ValueError, match="params.mode: unknown fine-tuning mode 'some'"):
        backbones.param_groups(model, BACKBONES.get("resnet18"), "some", lr=0.1, head_lr_mult=1)


@pytest.mark.parametrize("name", ["resnet18", "densenet121", "inception_v3"])
@pytest.mark.parametrize("mode", ["head", "last3"])
def test_frozen_parameters_and_buffers_do_not_move_in_an_epoch(name, mode):
    """A training epoch through the fine-tune learner changes nothing frozen: no weight, and no BatchNorm running
    statistic (the frozen part stays in eval mode); the trainable part does change."""
    from trainables.images.finetune import ImageLearner, make_scheduler

    torch.manual_seed(0)
    spec, size = BACKBONES.get(name), max(BACKBONES.get(name).min_size, 64)
    model = backbones.classifier(name, 3, "random", size)
    groups = backbones.param_groups(model, spec, mode, 0.05, 1.0)
    optimizer = torch.optim.SGD(groups, lr=0.05, momentum=0.9)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    # buffers of modules none of whose own parameters train (BatchNorm running mean/var, batch counters)
    frozen_buffers = {f"{m_name}.{b}" if m_name else b for m_name, m in model.named_modules()
                      for b, _ in m.named_buffers(recurse=False)
                      if not any(p.requires_grad for p in m.parameters(recurse=False))}
    batches = [(torch.randn(4, 3, size, size), torch.tensor([0, 1, 2, 0])) for _ in range(2)]
    learner = ImageLearner(model, optimizer, torch.device("cpu"), torch.Generator(),
                           make_scheduler(optimizer, "constant", 1), to_batches=lambda split, train: iter(batches))
    learner.train_epoch(None)
    after = model.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert frozen_buffers and not moved & (frozen | frozen_buffers), sorted(moved & (frozen | frozen_buffers))[:5]
    assert moved & trained
