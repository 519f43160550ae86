"""Checkpoints: safetensors + JSON sidecar round trip, clear errors, resumable training state."""

import json

import pytest
import torch

from edge_rep.checkpoint import (default_model_path, load_model, load_training_state, save_model,
                                 save_training_state)
from edge_rep.errors import EdgeRepError
from edge_rep.model import EdgeREP, ModelConfig
from edge_rep.modelspec import ModelMeta
from edge_rep.profiles import ACIDS, ModalitySpec, Profile
from tiny_data import TINY

CFG = ModelConfig(width=16, n_layer=2, n_head=2, buffer_tokens=2, rep_layer=1, dropout=0.0)


def model() -> EdgeREP:
    torch.manual_seed(0)
    m = EdgeREP(CFG, TINY).eval()
    with torch.no_grad():
        m.private.normal_()
        m.frontend.scale0.fill_(0.3)   # front-end statistics travel with the weights
    return m


def run(m, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(2, 1, 800, generator=g), torch.randn(2, 1, 100, generator=g),
         torch.tensor([[1.0, 1.0], [1.0, 0.0]]), torch.zeros(2, 2), torch.zeros(2, 2, 2, 16),
         torch.tensor([[12.0, 3.0], [30.0, 0.0]]))                    # above_floor_db (the default level feature)
    return m(*x)


def test_round_trip(tmp_path):
    m = model()
    meta = save_model(m, tmp_path / "m.safetensors", extra={"note": 1})
    assert meta.model_id == meta.bound_hash((tmp_path / "m.safetensors").read_bytes())[:12] and meta.format == 2
    loaded, meta2 = load_model(tmp_path / "m.safetensors")
    assert meta2.model_id == meta.model_id and meta2.profile == TINY and meta2.classes == ("a", "b", "c")
    # the id covers the class list and the profile: an edited sidecar is caught, not obeyed
    side = json.loads((tmp_path / "m.json").read_text())
    for edit in (lambda d: d["profile"]["classes"].reverse(), lambda d: d["profile"].update(hop_s=0.25)):
        bad = json.loads(json.dumps(side))
        edit(bad)
        (tmp_path / "m.json").write_text(json.dumps(bad))
        with pytest.raises(EdgeRepError, match="an edited profile or class list"):
            load_model(tmp_path / "m.safetensors")
    (tmp_path / "m.json").write_text(json.dumps(side))
    assert meta2.config == CFG.to_dict() and meta2.extra["note"] == 1
    assert meta2.frontend["modalities"][0]["frame_len"] == m.frontend.plans[0].frame_len
    assert "torch" in meta2.versions
    for a, b in zip(run(m), run(loaded)):
        torch.testing.assert_close(a, b)
    assert float(loaded.frontend.scale0[0, 0]) == pytest.approx(0.3)
    # the sidecar is the modelspec one
    assert isinstance(ModelMeta.load(tmp_path / "m.json"), ModelMeta)


def test_the_same_weights_get_the_same_bytes_and_model_id(tmp_path):
    """A rerun of a deterministic training must give the same model id: the file holds nothing whose order
    can change between saves (two metadata keys once came out in either order, at random)."""
    m = model()
    ids = {save_model(m, tmp_path / f"m{i}.safetensors").model_id for i in range(6)}
    assert len(ids) == 1
    assert len({(tmp_path / f"m{i}.safetensors").read_bytes() for i in range(6)}) == 1


def test_one_check_that_a_model_fits_a_profile():
    meta = ModelMeta(profile=TINY, buffer_tokens=2, width=16, model_id="m")
    meta.check_fits(TINY, TINY.classes)
    meta.check_fits()                                   # nothing expected: nothing checked
    with pytest.raises(EdgeRepError, match="m.onnx: the model was made for profile 'tiny', not 'acids'"):
        meta.check_fits(ACIDS, what="m.onnx")
    doubled = tuple(ModalitySpec(m.name, 2 * m.sample_rate, m.channels, m.units) for m in TINY.modalities)
    faster = Profile(TINY.name, doubled, TINY.window_s, TINY.hop_s, TINY.intervals, TINY.classes)
    with pytest.raises(EdgeRepError, match="sample_rate"):     # same name, other rates: the difference is shown
        meta.check_fits(faster)
    counts = Profile(TINY.name, (TINY.modalities[0], ModalitySpec("seismic", 100.0, 1, "counts")), TINY.window_s,
                     TINY.hop_s, TINY.intervals, TINY.classes)
    with pytest.raises(EdgeRepError, match=r"^data/d: seismic is in counts, but m.onnx takes m/s; .*--sensitivity"):
        meta.check_fits(counts, what="m.onnx", data="data/d")      # units first, with their own advice
    renamed = Profile(TINY.name, TINY.modalities, TINY.window_s, TINY.hop_s, TINY.intervals, ("a", "b"))
    for kw in ({"profile": renamed}, {"classes": ("a", "b")}):
        with pytest.raises(EdgeRepError, match="classes"):
            meta.check_fits(**kw)


def test_errors(tmp_path):
    with pytest.raises(EdgeRepError, match="not found"):
        load_model(tmp_path / "none.safetensors")
    m = model()
    p = tmp_path / "m.safetensors"
    save_model(m, p)
    with pytest.raises(EdgeRepError, match="profile 'tiny'"):
        load_model(p, profile=ACIDS)
    with pytest.raises(EdgeRepError, match="classes"):
        load_model(p, classes=("a", "b"))
    # corrupt weights: truncated file
    data = p.read_bytes()
    p.write_bytes(data[:100])
    with pytest.raises(EdgeRepError, match="corrupt"):
        load_model(p)
    # sidecar updated to match a garbage file -> unreadable safetensors
    p.write_bytes(b"\x00" * 64)
    side = json.loads((tmp_path / "m.json").read_text())
    side["model_id"] = ModelMeta.from_dict(side).bound_hash(b"\x00" * 64)[:12]
    (tmp_path / "m.json").write_text(json.dumps(side))
    with pytest.raises(EdgeRepError, match="unreadable"):
        load_model(p)
    # missing sidecar
    save_model(m, p)
    (tmp_path / "m.json").unlink()
    with pytest.raises(EdgeRepError, match="sidecar not found"):
        load_model(p)
    with pytest.raises(EdgeRepError, match="safetensors"):
        load_model(tmp_path / "m.pt")


def test_weights_not_fitting_config(tmp_path):
    p = tmp_path / "m.safetensors"
    save_model(model(), p)
    side = json.loads((tmp_path / "m.json").read_text())
    side["config"]["n_layer"] = 3
    (tmp_path / "m.json").write_text(json.dumps(side))
    with pytest.raises(EdgeRepError, match="do not fit"):
        load_model(p)
    side["config"]["bogus"] = 1
    (tmp_path / "m.json").write_text(json.dumps(side))
    with pytest.raises(EdgeRepError, match="unknown field"):
        load_model(p)


def test_training_state_round_trip(tmp_path):
    m = model()
    m.set_trainable("adapter")
    opt = torch.optim.AdamW([q for q in m.parameters() if q.requires_grad], lr=1e-3)
    run(m)[0].sum().backward()
    opt.step()
    save_training_state(tmp_path / "t.safetensors", m, opt, {"epoch": 3, "stage": "adapt"})
    m2, state, opt_state = load_training_state(tmp_path / "t.safetensors")
    assert state == {"epoch": 3, "stage": "adapt"}
    m2.set_trainable("adapter")
    opt2 = torch.optim.AdamW([q for q in m2.parameters() if q.requires_grad], lr=1e-3)
    opt2.load_state_dict(opt_state)
    a, b = opt.state_dict(), opt2.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for k in a["state"]:
        for name, v in a["state"][k].items():
            torch.testing.assert_close(torch.as_tensor(v), torch.as_tensor(b["state"][k][name]))
    for x, y in zip(run(m), run(m2)):
        torch.testing.assert_close(x, y)
    # a plain model file is not a training checkpoint
    save_model(m, tmp_path / "plain.safetensors")
    with pytest.raises(EdgeRepError, match="not a training checkpoint"):
        load_training_state(tmp_path / "plain.safetensors")


def test_default_model_path_is_inside_package():
    p = default_model_path()
    assert p.name == "default.safetensors" and p.parent.name == "models"
    if p.is_file():   # the bundled model, once trained, loads and fits the default profile
        m, meta = load_model()
        assert meta.profile.name == "mod" and m.count_parameters()["backbone"] <= 1_000_000
