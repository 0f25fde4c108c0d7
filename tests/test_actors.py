"""Training actors (tracking.train.actors): totals against the weighted terms recomputed here from the net's
outputs (pytracking's formulas), stats names / detachment, gradients to trainable and not to frozen parameters,
loss weights, missing fields, and a few optimisation steps on a fixed batch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from tracking.data import geometry
from tracking.data.proposals import sample_box_gmm
from tracking.models import build_network
from tracking.models.loss import KLRegression, KLRegressionGrid, LBHinge
from tracking.train.actors import (ACTORS, DIMP_LOSS_WEIGHTS, PRDIMP_LOSS_WEIGHTS, SUPER_DIMP_LOSS_WEIGHTS, Actor,
                                   AtomActor, DiMPActor, KLDiMPActor, UnknownActorError, build_actor)

SIZE, FEAT, FILTER = 128, 8, 4  # 128 px crops, stride 16 -> 8x8 features, 4x4 filter -> 9x9 score maps
LABEL = geometry.label_size(FEAT, FILTER)
SIGMA = 1 / 4 / 5.0
SMALL_IOU = dict(iou_input_dim=(32, 32), iou_inter_dim=(32, 32))

DIMP_STATS = {"Loss/total", "Loss/iou", "Loss/target_clf", "Loss/test_init_clf", "Loss/test_iter_clf",
              "ClfTrain/test_loss", "ClfTrain/test_init_loss", "ClfTrain/test_iter_loss"}
PRDIMP_STATS = {"Loss/total", "Loss/bb_ce", "Loss/loss_bb_ce", "Loss/clf_ce", "Loss/clf_ce_init", "Loss/clf_ce_iter",
                "ClfTrain/clf_ce", "ClfTrain/clf_ce_init", "ClfTrain/clf_ce_iter"}
SUPER_STATS = {"Loss/total", "Loss/bb_ce", "Loss/loss_bb_ce", "Loss/target_clf", "Loss/test_init_clf",
               "Loss/test_iter_clf", "ClfTrain/test_loss", "ClfTrain/test_init_loss", "ClfTrain/test_iter_loss"}
ATOM_STATS = {"Loss/total", "Loss/iou"}


def make_batch(num_train: int = 2, num_test: int = 2, batch: int = 2, proposals: int = 8,
               seed: int = 0) -> dict[str, object]:
    """A plausible batch in the loader's layout with every field any actor reads (plus metadata)."""
    rng = np.random.default_rng(seed)
    n = num_train + num_test
    size = SIZE / 5 * np.exp(rng.normal(0, 0.2, (n, batch, 2)))
    centre = SIZE / 2 + rng.normal(0, 4, (n, batch, 2))
    boxes = np.concatenate([centre - size / 2, size], axis=-1)  # [n, B, 4] xywh
    labels = geometry.gaussian_label(centre, SIZE, FEAT, FILTER, SIGMA)  # [n, B, L, L]
    density = labels / labels.sum(axis=(-2, -1), keepdims=True)
    test_boxes = boxes[num_train:]
    iou_props, iou = zip(*[geometry.sample_proposals(b, proposals, (0.01, 0.05, 0.1, 0.2, 0.3), 0.1, rng)
                           for b in test_boxes.reshape(-1, 4)])
    gmm_props, q, p = sample_box_gmm(test_boxes, [(0.05, 0.05), (0.5, 0.5)], (0.05, 0.05), proposals, rng=rng)
    g = torch.Generator().manual_seed(seed)

    def t(a: np.ndarray) -> Tensor:
        return torch.as_tensor(np.asarray(a), dtype=torch.float32)

    out: dict[str, object] = {
        "train_images": torch.randn(num_train, batch, 3, SIZE, SIZE, generator=g),
        "test_images": torch.randn(num_test, batch, 3, SIZE, SIZE, generator=g),
        "train_anno": t(boxes[:num_train]), "test_anno": t(test_boxes),
        "train_label": t(labels[:num_train]), "test_label": t(labels[num_train:]),
        "train_label_density": t(density[:num_train]), "test_label_density": t(density[num_train:]),
        "proposal_iou": t(np.stack(iou).reshape(num_test, batch, proposals)),
        "proposal_density": t(q), "gt_density": t(p),
        "dataset": ["synthetic"] * batch, "sequence": ["a", "b"][:batch], "index": torch.arange(batch),
    }
    # IoU-Net proposals for DiMP / ATOM, GMM samples (with densities) for PrDiMP / SuperDiMP
    out["iou_proposals"] = t(np.stack(iou_props).reshape(num_test, batch, proposals, 4))
    out["gmm_proposals"] = t(gmm_props)
    return out


def for_actor(batch: dict[str, object], kind: str) -> dict[str, object]:
    b = dict(batch)
    b["test_proposals"] = b.pop("gmm_proposals" if kind == "kl" else "iou_proposals")
    b.pop("gmm_proposals", None)
    b.pop("iou_proposals", None)
    return b


def dimp_net(seed: int = 0, **kw) -> nn.Module:
    torch.manual_seed(seed)
    return build_network("dimpnet18", filter_size=FILTER, backbone_pretrained=False, optim_iter=3,
                         optim_init_step=0.9, optim_init_reg=0.1, init_gauss_sigma=SIGMA * FEAT, num_dist_bins=10,
                         bin_displacement=0.5, mask_init_factor=3.0, **SMALL_IOU, **kw).eval()


def prdimp_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_network("klcedimpnet18", filter_size=FILTER, backbone_pretrained=False, optim_iter=3,
                         optim_init_step=1.0, optim_init_reg=0.05, optim_min_reg=0.05, gauss_sigma=SIGMA * FEAT,
                         alpha_eps=0.05, normalize_label=True, init_initializer="zero", **SMALL_IOU).eval()


def atom_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_network("atom_resnet18", backbone_pretrained=False, **SMALL_IOU).eval()


def run_net(net: nn.Module, b: dict[str, object]):
    with torch.no_grad():
        return net(b["train_images"], b["test_images"], b["train_anno"], b["test_proposals"])


def pytracking_iterates(losses: list[Tensor], w: float, w_init: float, w_iter: float) -> Tensor:
    """pytracking: final * w + first * w_init + w_iter / (n - 2) * sum(intermediate)."""
    return w * losses[-1] + w_init * losses[0] + (w_iter / (len(losses) - 2)) * sum(losses[1:-1])


def assert_stats(stats: dict[str, Tensor], names: set[str]) -> None:
    assert set(stats) == names
    for name, value in stats.items():
        assert isinstance(value, Tensor) and value.dim() == 0, name
        assert not value.requires_grad and value.grad_fn is None, name
        assert torch.isfinite(value), name


def close(a: Tensor, b: Tensor | float) -> bool:
    return torch.allclose(a.detach().double(), torch.as_tensor(b).double(), rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def batch() -> dict[str, object]:
    return make_batch()


@pytest.fixture(scope="module")
def dnet() -> nn.Module:
    return dimp_net()


def test_dimp_total_is_the_weighted_sum(batch, dnet):
    b = for_actor(batch, "iou")
    weights = {"iou": 2.0, "test_clf": 50.0, "test_init_clf": 30.0, "test_iter_clf": 200.0}
    actor = DiMPActor(dnet, loss_weights=weights, hinge_threshold=0.05)
    loss, stats = actor(b)
    assert loss.dim() == 0 and loss.requires_grad
    assert_stats(stats, DIMP_STATS)

    scores, iou_pred = run_net(dnet, b)
    assert len(scores) == 4 and iou_pred.shape == b["proposal_iou"].shape  # init + 2 intermediate + final
    hinge = LBHinge(threshold=0.05)
    clf = [hinge(s, b["test_label"]) for s in scores]
    iou = nn.functional.mse_loss(iou_pred, b["proposal_iou"])
    expected = 2.0 * iou + pytracking_iterates(clf, 50.0, 30.0, 200.0)
    assert close(loss, expected) and close(stats["Loss/total"], expected)
    assert close(stats["Loss/iou"], 2.0 * iou)
    assert close(stats["Loss/target_clf"], 50.0 * clf[-1]) and close(stats["ClfTrain/test_loss"], clf[-1])
    assert close(stats["Loss/test_init_clf"], 30.0 * clf[0]) and close(stats["ClfTrain/test_init_loss"], clf[0])
    assert close(stats["ClfTrain/test_iter_loss"], (clf[1] + clf[2]) / 2)
    assert close(stats["Loss/test_iter_clf"], 200.0 / 2 * (clf[1] + clf[2]))
    # the initial filter is iterate 0: its loss differs from the final one
    assert not close(stats["ClfTrain/test_init_loss"], stats["ClfTrain/test_loss"])


def test_dimp_without_intermediate_iterates(batch):
    # optim_iter=1: the initial and the final filter only (pytracking's DiMPActor divides by zero here)
    net = build_network("dimpnet18", filter_size=FILTER, backbone_pretrained=False, optim_iter=1, **SMALL_IOU).eval()
    b = for_actor(batch, "iou")
    loss, stats = DiMPActor(net)(b)
    assert_stats(stats, DIMP_STATS - {"Loss/test_iter_clf", "ClfTrain/test_iter_loss"})
    scores, iou_pred = run_net(net, b)
    assert len(scores) == 2
    clf = [LBHinge(threshold=0.05)(s, b["test_label"]) for s in scores]
    assert close(loss, nn.functional.mse_loss(iou_pred, b["proposal_iou"]) + 100 * clf[1] + 100 * clf[0])


def test_kl_dimp_grid_total_is_the_weighted_sum(batch):
    net = prdimp_net()
    b = for_actor(batch, "kl")
    actor = KLDiMPActor(net)
    assert actor.clf_loss == "kl_grid" and actor.loss_weights == PRDIMP_LOSS_WEIGHTS
    loss, stats = actor(b)
    assert_stats(stats, PRDIMP_STATS)

    scores, bb_scores = run_net(net, b)
    assert scores[0].shape == b["test_label_density"].shape  # 9x9: the even filter's extra row/column
    grid = KLRegressionGrid()
    clf = [grid(s, b["test_label_density"], grid_dim=(-2, -1)) for s in scores]
    bb_ce = KLRegression()(bb_scores.reshape(-1, 8), sample_density=b["proposal_density"].reshape(-1, 8),
                           gt_density=b["gt_density"].reshape(-1, 8), mc_dim=1)
    w = PRDIMP_LOSS_WEIGHTS
    expected = w["bb_ce"] * bb_ce + pytracking_iterates(clf, w["clf_ce"], w["clf_ce_init"], w["clf_ce_iter"])
    assert close(loss, expected)
    assert close(stats["Loss/bb_ce"], bb_ce) and close(stats["Loss/loss_bb_ce"], w["bb_ce"] * bb_ce)
    assert close(stats["ClfTrain/clf_ce"], clf[-1]) and close(stats["Loss/clf_ce"], w["clf_ce"] * clf[-1])
    assert close(stats["ClfTrain/clf_ce_init"], clf[0]) and close(stats["Loss/clf_ce_init"], 0.25 * clf[0])
    assert close(stats["ClfTrain/clf_ce_iter"], (clf[1] + clf[2]) / 2)
    assert close(stats["Loss/clf_ce_iter"], (clf[1] + clf[2]) / 2)


def test_kl_dimp_hinge_is_superdimp(batch, dnet):
    b = for_actor(batch, "kl")
    actor = build_actor("kl_dimp", dnet, clf_loss="hinge")
    assert actor.loss_weights == SUPER_DIMP_LOSS_WEIGHTS
    loss, stats = actor(b)
    assert_stats(stats, SUPER_STATS)
    scores, bb_scores = run_net(dnet, b)
    hinge = LBHinge(threshold=0.05)
    clf = [hinge(s, b["test_label"]) for s in scores]
    bb_ce = KLRegression()(bb_scores.reshape(-1, 8), sample_density=b["proposal_density"].reshape(-1, 8),
                           gt_density=b["gt_density"].reshape(-1, 8), mc_dim=1)
    expected = 0.01 * bb_ce + pytracking_iterates(clf, 100.0, 100.0, 400.0)
    assert close(loss, expected) and close(stats["ClfTrain/test_loss"], clf[-1])
    # the hinge keys select the hinge loss; a mix is refused
    assert KLDiMPActor(dnet, loss_weights={"test_clf": 10.0}).clf_loss == "hinge"
    with pytest.raises(ValueError, match="mix"):
        KLDiMPActor(dnet, loss_weights={"test_clf": 10.0, "clf_ce": 1.0})
    with pytest.raises(ValueError, match="clf_loss='hinge'"):
        KLDiMPActor(dnet, loss_weights={"test_clf": 10.0}, clf_loss="kl_grid")


def test_kl_dimp_bb_loss_skips_invalid_test_frames(batch, dnet):
    b = for_actor(batch, "kl")
    b["test_anno"] = b["test_anno"].clone()
    b["test_anno"][1, 0] = 99999.0  # pytracking's marker of a frame without a box
    b["proposal_density"] = b["proposal_density"].clone()
    b["proposal_density"][1, 0] = 0.0  # would give inf if it were used
    actor = KLDiMPActor(dnet, clf_loss="none")
    loss, stats = actor(b)
    assert set(stats) == {"Loss/total", "Loss/bb_ce", "Loss/loss_bb_ce"}
    _, bb_scores = run_net(dnet, b)
    valid = b["test_anno"][:, :, 0] < 99999.0
    expected = KLRegression()(bb_scores[valid], sample_density=b["proposal_density"][valid],
                              gt_density=b["gt_density"][valid], mc_dim=1)
    assert torch.isfinite(loss) and close(loss, expected)


def test_atom_total_is_the_mse(batch):
    net = atom_net()
    b = for_actor(batch, "iou")
    loss, stats = build_actor("atom", net)(b)
    assert_stats(stats, ATOM_STATS)
    expected = nn.functional.mse_loss(run_net(net, b), b["proposal_iou"])
    assert close(loss, expected) and close(stats["Loss/iou"], expected)
    loss3, _ = AtomActor(net, loss_weights={"iou": 3.0})(b)
    assert close(loss3, 3.0 * expected)


@pytest.mark.parametrize("kind", ["dimp", "prdimp", "atom"])
def test_gradients_reach_trainable_parameters_only(batch, kind):
    if kind == "dimp":
        net, actor_kind = dimp_net(frozen_backbone_layers=("conv1", "layer1")), "iou"
        actor: Actor = DiMPActor(net)
    elif kind == "prdimp":
        net, actor_kind = prdimp_net(), "kl"
        actor = KLDiMPActor(net)
    else:
        net, actor_kind = atom_net(), "iou"
        actor = AtomActor(net)
    assert isinstance(actor, Actor)
    net.train()
    loss, _ = actor(for_actor(batch, actor_kind))
    loss.backward()
    frozen = [n for n, p in net.named_parameters() if not p.requires_grad]
    assert frozen or kind == "prdimp"
    for name, p in net.named_parameters():
        if not p.requires_grad:
            assert p.grad is None, name
    got = {n for n, p in net.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert any(n.startswith("bb_regressor.") for n in got)
    if kind != "atom":
        for part in ("classifier.filter_initializer.", "classifier.filter_optimizer.", "classifier.feature_extractor.",
                     "feature_extractor.layer3."):
            assert any(n.startswith(part) for n in got), part


def test_changing_a_weight_changes_the_total_by_that_term(batch, dnet):
    b = for_actor(batch, "iou")
    base_loss, base = DiMPActor(dnet)(b)
    assert close(base_loss, sum(base[k] for k in ("Loss/iou", "Loss/target_clf", "Loss/test_init_clf",
                                                  "Loss/test_iter_clf")))
    for key, stat in (("test_init_clf", "ClfTrain/test_init_loss"), ("test_clf", "ClfTrain/test_loss"),
                      ("test_iter_clf", "ClfTrain/test_iter_loss")):
        loss, stats = DiMPActor(dnet, loss_weights={key: DIMP_LOSS_WEIGHTS[key] + 10.0})(b)
        assert close(loss, base_loss + 10.0 * base[stat]), key
        assert close(stats[stat], base[stat])
    loss, _ = DiMPActor(dnet, loss_weights={"iou": 0.0, "test_init_clf": 0.0, "test_iter_clf": 0.0})(b)
    assert close(loss, base["Loss/target_clf"])


def test_loss_weights_defaults_and_validation(dnet):
    assert DiMPActor(dnet).loss_weights == DIMP_LOSS_WEIGHTS
    assert DiMPActor(dnet, loss_weights={}).loss_weights == DIMP_LOSS_WEIGHTS  # the config's "empty: defaults"
    assert DiMPActor(dnet, loss_weights={"iou": 2}).loss_weights == {**DIMP_LOSS_WEIGHTS, "iou": 2.0}
    with pytest.raises(ValueError, match="test_clff"):
        DiMPActor(dnet, loss_weights={"test_clff": 1.0})
    with pytest.raises(TypeError, match="iou"):
        DiMPActor(dnet, loss_weights={"iou": "1"})
    with pytest.raises(ValueError, match="clf_loss"):
        KLDiMPActor(dnet, clf_loss="softmax")
    actor = build_actor("dimp", dnet, loss_weights={"iou": 5.0}, hinge_threshold=0.1)
    assert isinstance(actor, DiMPActor) and actor.hinge_threshold == 0.1 and actor.loss_weights["iou"] == 5.0
    assert set(ACTORS) == {"dimp", "kl_dimp", "atom"}
    for error in (KeyError, ValueError, UnknownActorError):
        with pytest.raises(error, match="atom.*dimp.*kl_dimp"):
            build_actor("prdimp", dnet)


@pytest.mark.parametrize("name, kwargs, kind", [("dimp", {}, "iou"), ("atom", {}, "iou"), ("kl_dimp", {}, "kl"),
                                                ("kl_dimp", {"clf_loss": "hinge"}, "kl")])
def test_missing_fields_name_the_field_and_the_actor(batch, name, kwargs, kind):
    class Boom(nn.Module):
        def forward(self, *args, **kw):
            raise AssertionError("the batch must be checked before the net runs")

    actor = build_actor(name, Boom(), **kwargs)
    b = for_actor(batch, kind)
    needed = actor.required_fields()
    assert {"train_images", "test_images", "train_anno", "test_proposals"} <= set(needed)
    assert ("test_label_density" in needed) == (name == "kl_dimp" and not kwargs)
    for field in needed:
        partial = {k: v for k, v in b.items() if k != field}
        with pytest.raises(KeyError, match=f"{type(actor).__name__}.*'{field}'"):
            actor(partial)


def test_label_shape_mismatch_explains_the_end_padding(batch, dnet):
    b = for_actor(batch, "iou")
    b["test_label"] = b["test_label"][..., :-1, :-1]  # 8x8 labels without the even filter's end padding
    with pytest.raises(ValueError, match="end_pad_if_even"):
        DiMPActor(dnet)(b)


def test_check_finite(batch, dnet):
    b = for_actor(batch, "iou")
    b["proposal_iou"] = torch.full_like(b["proposal_iou"], math.nan)
    loss, stats = DiMPActor(dnet)(b)  # no host sync by default: NaN passes through
    assert torch.isnan(loss) and torch.isnan(stats["Loss/iou"])
    with pytest.raises(FloatingPointError, match="DiMPActor"):
        DiMPActor(dnet, check_finite=True)(b)


@pytest.mark.parametrize("kind", ["dimp", "prdimp", "atom"])
def test_a_few_steps_lower_the_loss(batch, kind):
    # train mode (BatchNorm on batch statistics, as in training): with eval-mode BatchNorm and random init, the
    # first Adam step throws the IoU-Net's outputs far off
    if kind == "dimp":
        net, actor, b = dimp_net(seed=1, frozen_backbone_layers=("conv1", "layer1")), DiMPActor, "iou"
    elif kind == "prdimp":
        net, actor, b = prdimp_net(seed=1), KLDiMPActor, "kl"
    else:
        net, actor, b = atom_net(seed=2), AtomActor, "iou"
    net.train()
    step = actor(net)
    data = for_actor(batch, b)
    optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-4)
    losses = []
    for _ in range(8):
        loss, stats = step(data)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(stats["Loss/total"]))
    with torch.no_grad():
        final = float(step(data)[0])
    assert final < 0.75 * losses[0], losses + [final]


def test_dimp_actor_on_a_loader_batch(tmp_path):
    pytest.importorskip("cv2")
    from loaders import LoaderConfig, build_loader
    from tracking.data.defaults import default_dataset
    from tracking.data.processing import ProcessingConfig
    from tracking.data.synthetic import SyntheticSpec

    dataset = default_dataset(root=str(tmp_path / "synthetic"),
                              spec=SyntheticSpec(num_sequences=2, num_frames=30, width=160, height=96, seed=3))
    processing = ProcessingConfig(output_size=SIZE, label_feature_size=FEAT, label_kernel_size=FILTER)
    loader = build_loader(LoaderConfig(backend="opencv", batch_size=2, workers=0, samples_per_epoch=4),
                          [dataset], processing=processing)
    try:
        data = next(iter(loader))
    finally:
        getattr(loader, "close", lambda: None)()
    net = dimp_net()
    loss, stats = DiMPActor(net)(data)  # metadata keys (dataset, sequence, ...) are ignored
    assert_stats(stats, DIMP_STATS)
    scores, iou_pred = run_net(net, data)
    clf = [LBHinge(threshold=0.05)(s, data["test_label"]) for s in scores]
    expected = nn.functional.mse_loss(iou_pred, data["proposal_iou"]) + pytracking_iterates(clf, 100., 100., 400.)
    assert close(loss, expected)
