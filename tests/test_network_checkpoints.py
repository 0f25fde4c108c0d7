"""Checkpoints of the real networks: pytracking's shared file restores its weights into our DiMP-18, and our
own network files of DiMP-18 / ATOM load with ``torch.load(weights_only=True)`` and rebuild identically."""

import os

import pytest
import torch
from conftest import SHARED_DATA

from tracking.models import build_network
from tracking.models.checkpoints import load_into, load_network, load_pytracking_checkpoint, save_network

SMALL_DIMP18 = os.path.join(SHARED_DATA, "checkpoints", "pytracking_dimp18_small.pth.tar")


@pytest.mark.skipif(not os.path.isfile(SMALL_DIMP18), reason=f"{SMALL_DIMP18} absent")
def test_the_shared_checkpoint_restores_its_weights_into_dimpnet18():
    ckpt = load_pytracking_checkpoint(SMALL_DIMP18)
    kwargs = {**ckpt.constructor_kwargs, "backbone_pretrained": False}
    torch.manual_seed(123)
    net = build_network(ckpt.constructor_name, **kwargs)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(Exception, match="missing"):
        load_into(net, ckpt, strict=True)  # the small file holds 7 of the 221 entries
    load_into(net, ckpt, strict=False)
    after = net.state_dict()
    for key, value in after.items():
        assert torch.equal(value, ckpt.net[key] if key in ckpt.net else before[key]), key
    # the randomly initialised ones really changed (the optimiser's parameters have deterministic inits, which a
    # checkpoint may still hold)
    assert not torch.equal(before["bb_regressor.iou_predictor.weight"], after["bb_regressor.iou_predictor.weight"])
    # the restored learned step length and regularisation are what the optimiser uses
    opt = net.classifier.filter_optimizer
    assert torch.equal(opt.log_step_length.detach(), ckpt.net["classifier.filter_optimizer.log_step_length"])


@pytest.mark.skipif(not os.path.isfile(SMALL_DIMP18), reason=f"{SMALL_DIMP18} absent")
def test_seed_0_init_reproduces_pytrackings_tensors_bit_exactly():
    """The shared file's tensors are those of a pytracking DiMP-18 built after ``torch.manual_seed(0)``
    (untrained): our constructor, seeded the same, draws the same random numbers in the same order through the
    whole net (backbone, classifier, IoU-Net) and gives bit-identical tensors, the IoU predictor's random
    weights included. A different init order or distribution anywhere before them would break this."""
    ckpt = load_pytracking_checkpoint(SMALL_DIMP18)
    torch.manual_seed(0)
    net = build_network(ckpt.constructor_name, **{**ckpt.constructor_kwargs, "backbone_pretrained": False})
    state = net.state_dict()
    for key, value in ckpt.net.items():
        assert torch.equal(state[key], value), key


@pytest.mark.parametrize("name,kwargs", [
    ("dimpnet18", {"backbone_pretrained": False}),
    ("atom_resnet18", {"backbone_pretrained": False}),
])
def test_our_network_files_load_with_weights_only(tmp_path, name, kwargs):
    torch.manual_seed(1)
    net = build_network(name, **kwargs)
    path = tmp_path / f"{name}.pth"
    save_network(path, net, name, kwargs, extra={"epoch": 3, "note": "test"})
    raw = torch.load(path, weights_only=True)  # plain tensors and plain values only
    assert raw["network"] == name and raw["kwargs"] == kwargs and raw["extra"]["epoch"] == 3
    torch.manual_seed(2)  # another init: the file's weights must be what comes back
    back, meta = load_network(path)
    assert meta["network"] == name and meta["extra"] == {"epoch": 3, "note": "test"}
    reference, loaded = net.state_dict(), back.state_dict()
    assert list(loaded) == list(reference)
    for key in reference:
        assert torch.equal(loaded[key], reference[key]), key
