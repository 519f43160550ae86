"""Front-end and REP model: shapes, scenario choice, replay semantics, masking, init modes, export."""

import numpy as np
import pytest
import torch

from edge_rep.errors import EdgeRepError
from edge_rep.frontend import Frontend, band_matrix, dft_matrix, plan
from edge_rep.model import EdgeREP, ModelConfig, scenarios
from edge_rep.modelspec import ModelMeta, scenario_label, scenario_name
from edge_rep.profiles import MOD
from tiny_data import TINY

# the contract tests below feed five inputs: an absolute level feature (the floor input has its own tests)
CFG = ModelConfig(width=16, n_layer=3, n_head=2, buffer_tokens=2, rep_layer=2, dropout=0.0, level_reference="absolute")


def tiny_model(**kw) -> EdgeREP:
    torch.manual_seed(0)
    m = EdgeREP(ModelConfig(**{**CFG.to_dict(), **kw}), TINY).eval()
    with torch.no_grad():   # learned buffers away from zero so that scenarios differ
        if m.cfg.rep:
            m.private.normal_(0, 1.0)
            m.shared.normal_(0, 1.0)
    return m


def inputs(B=3, seed=0, present=None):
    g = torch.Generator().manual_seed(seed)
    ac = torch.randn(B, 1, 800, generator=g)
    se = torch.randn(B, 1, 100, generator=g) * 1e-6
    pres = torch.ones(B, 2) if present is None else torch.tensor(present, dtype=torch.float32)
    return ac, se, pres, torch.zeros(B, 2), torch.zeros(B, 2, CFG.buffer_tokens, CFG.width)


# ---- front-end ------------------------------------------------------------------------------------

def test_plan_default_profile():
    ac, se = plan(MOD)
    assert (ac.frames, ac.frame_len, ac.bands) == (2, 800, 32)     # 100 ms frames: 10 Hz bins
    assert ac.frames * ac.frame_len * MOD.intervals == MOD.window_samples("acoustic")
    assert (se.frames, se.frame_len, se.bands) == (1, 20, 11)


def test_frame_pool_averages_frame_powers():
    rng = np.random.default_rng(1)
    x = torch.from_numpy((0.1 * rng.standard_normal((3, 1, 800))).astype(np.float32))
    fe, pooled = Frontend(plan(TINY)), Frontend(plan(TINY, pool=True))
    p = fe.plans[0]
    assert p.frames > 1 and pooled.plans[0].feat_dim == p.bands
    e = fe.one(0, x).reshape(3, TINY.intervals, p.frames, p.bands)       # uncalibrated: log(power + eps)
    want = torch.log(torch.exp(e).mean(dim=2))
    torch.testing.assert_close(pooled.one(0, x), want, atol=1e-4, rtol=1e-4)


def test_band_matrix_covers_every_bin_once():
    m = band_matrix(161, 32)
    assert m.shape == (161, 32)
    assert np.all((m > 0).sum(1) == 1)        # each bin in exactly one band
    assert np.all((m > 0).sum(0) >= 1)        # no empty band
    np.testing.assert_allclose(m.sum(0), 1.0, rtol=1e-6)
    widths = (m > 0).sum(0)
    assert widths[-1] > widths[0]             # log spacing: high bands are wider


def test_dft_matrix_matches_numpy():
    x = np.random.default_rng(0).standard_normal(64).astype(np.float32)
    y = x @ dft_matrix(64)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(64) / 64)
    ref = np.fft.rfft(x * hann)
    np.testing.assert_allclose(y[:33], ref.real, atol=1e-4)
    np.testing.assert_allclose(y[33:], ref.imag, atol=1e-4)


def test_frontend_shapes_nan_and_calibration():
    fe = Frontend(plan(TINY))
    rng = np.random.default_rng(0)
    x = {"acoustic": (0.1 * rng.standard_normal((50, 1, 800))).astype(np.float32),
         "seismic": (1e-6 * rng.standard_normal((50, 1, 100))).astype(np.float32)}
    fe.calibrate(x, np.ones((50, 2), bool))
    a, s = fe(torch.from_numpy(x["acoustic"]), torch.from_numpy(x["seismic"]))
    assert a.shape == (50, 4, fe.plans[0].feat_dim) and s.shape == (50, 4, fe.plans[1].feat_dim)
    # calibrated: each band ~ zero mean, unit std over the training windows
    e = a.reshape(50, 4, fe.plans[0].frames, fe.plans[0].bands)
    assert e.mean().abs() < 0.05 and abs(float(e.std()) - 1) < 0.1
    bad = torch.from_numpy(x["acoustic"][:2].copy())
    bad[0, 0, :100] = float("nan")
    bad[1, 0, 5] = float("inf")
    assert torch.isfinite(fe.one(0, bad)).all()


def test_calibrate_needs_present_windows():
    fe = Frontend(plan(TINY))
    x = {"acoustic": np.zeros((4, 1, 800), np.float32), "seismic": np.zeros((4, 1, 100), np.float32)}
    with pytest.raises(EdgeRepError, match="seismic"):
        fe.calibrate(x, np.array([[1, 0]] * 4, bool))


# ---- scenarios ------------------------------------------------------------------------------------

def test_scenarios_derived_from_modalities():
    assert scenarios(("acoustic", "seismic")) == [(1, 1), (0, 1), (1, 0)]
    mods = ("acoustic", "seismic")
    names = [scenario_name(dict(zip(mods, map(bool, p)))) for p in scenarios(mods)]
    assert names == ["complete", "acoustic_missing", "seismic_missing"] == tiny_model().scenario_names
    assert [scenario_label(n) for n in names] == ["complete", "acoustic missing", "seismic missing"]
    three = scenarios(("a", "b", "c"))
    assert len(three) == 7 and three[0] == (1, 1, 1) and (0, 0, 0) not in three


def test_scenario_weights_one_hot_from_mask():
    m = tiny_model()
    w = m.scenario_weights(torch.tensor([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]))
    np.testing.assert_array_equal(w.numpy(), [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]])


# ---- forward contract -----------------------------------------------------------------------------

def test_forward_shapes_and_probs():
    m = tiny_model()
    probs, buf = m(*inputs())
    assert probs.shape == (3, 3) and buf.shape == (3, 2, CFG.buffer_tokens, CFG.width)
    np.testing.assert_allclose(probs.sum(1).detach().numpy(), 1.0, rtol=1e-5)
    meta = ModelMeta(profile=TINY, buffer_tokens=CFG.buffer_tokens, width=CFG.width, model_id="x")
    assert {k: tuple(v.shape) for k, v in zip(["acoustic", "seismic", "present", "replay", "buffers_in"], inputs(1))} \
        == meta.input_shapes(1)


def test_scenario_changes_output_and_missing_samples_are_ignored():
    m = tiny_model()
    ac, se, _, r, b = inputs(present=[[1, 0]] * 3)
    p_missing, _ = m(ac, se, torch.tensor([[1.0, 0.0]] * 3), r, b)
    p_complete, _ = m(ac, se, torch.ones(3, 2), r, b)
    assert not torch.allclose(p_missing, p_complete)
    # the missing modality's samples (even NaN) do not reach the output
    p_nan, _ = m(ac, torch.full_like(se, float("nan")), torch.tensor([[1.0, 0.0]] * 3), r, b)
    torch.testing.assert_close(p_nan, p_missing)


def test_replay_semantics():
    m = tiny_model()
    ac, se, _, _, _ = inputs()
    pres = torch.tensor([[1.0, 0.0]] * 3)                  # seismic dropped
    cached = torch.randn(3, 2, CFG.buffer_tokens, CFG.width) * 3
    p0, b0 = m(ac, se, pres, torch.zeros(3, 2), torch.zeros_like(cached))
    p0_nan, _ = m(ac, se, pres, torch.zeros(3, 2), torch.full_like(cached, float("nan")))
    torch.testing.assert_close(p0_nan, p0)                  # replay=0: buffers_in ignored, even NaN
    p1, b1 = m(ac, se, pres, torch.tensor([[0.0, 1.0]] * 3), cached)
    assert not torch.allclose(p1, p0)                       # replay=1 for the missing modality changes output
    torch.testing.assert_close(b1[:, 1], cached[:, 1])      # ... and its buffer is the cached one
    # replay=1 on a present modality is ignored: its buffer comes from its own samples
    p_pres, _ = m(ac, se, pres, torch.tensor([[1.0, 0.0]] * 3), cached)
    torch.testing.assert_close(p_pres, p0)


def test_buffers_out_carry_present_modality_features():
    m = tiny_model()
    ac, se, pres, r, b = inputs()
    _, b1 = m(ac, se, pres, r, b)
    _, b2 = m(ac * 3 + 1, se, pres, r, b)
    assert not torch.allclose(b1[:, 0], b2[:, 0])           # acoustic buffer follows acoustic input
    m_nobypass = tiny_model(bypass=False)
    _, c1 = m_nobypass(ac, se, pres, r, b)
    _, c2 = m_nobypass(ac * 3 + 1, se, pres, r, b)
    torch.testing.assert_close(c1, c2)                      # without bypass: learned buffers only


def test_orthogonality_loss():
    m = tiny_model()
    with torch.no_grad():
        m.shared.zero_()
        m.shared[:, :, 0] = 1.0                             # shared along axis 0
    buf = torch.zeros(2, 2, CFG.buffer_tokens, CFG.width)
    buf[..., 1] = 1.0                                       # private along axis 1: orthogonal
    w = m.scenario_weights(torch.ones(2, 2))
    assert m.ortho_loss(buf, w).item() == pytest.approx(0.0, abs=1e-7)
    buf[..., 0] = 1.0                                       # 45 degrees: cos^2 = 0.5
    assert m.ortho_loss(buf, w).item() == pytest.approx(0.5, abs=1e-5)
    assert tiny_model(shared=False).ortho_loss(buf, w).item() == 0.0


def test_init_modes():
    z = EdgeREP(ModelConfig(**{**CFG.to_dict(), "init": "zero"}), TINY)
    assert float(z.private.abs().sum()) == 0 and float(z.shared.abs().sum()) == 0
    r = EdgeREP(ModelConfig(**{**CFG.to_dict(), "init": "random"}), TINY)
    assert 0.01 < float(r.private.std()) < 0.03
    d = EdgeREP(ModelConfig(**{**CFG.to_dict(), "init_noise": 0.0}), TINY).eval()
    feats = [torch.randn(20, 4, p.feat_dim) for p in d.frontend.plans]
    d.dynamic_init(feats)
    # complete scenario: private = mean pooled layer-0 tokens, same for every scenario's present modality
    torch.testing.assert_close(d.private[0, 0], d.private[2, 0])
    # a missing modality's stand-in differs from its present-modality start
    assert not torch.allclose(d.private[1, 0], d.private[0, 0])
    # shared = mean class token entering layer k under the scenario; differs between scenarios
    assert not torch.allclose(d.shared[0], d.shared[1])
    assert torch.allclose(d.shared[0, 0], d.shared[0, 1])
    with pytest.raises(EdgeRepError, match="init"):
        EdgeREP(ModelConfig(**{**CFG.to_dict(), "init": "bogus"}), TINY)


def test_mean_readout_ignores_hidden_modality():
    m = tiny_model(readout="mean")
    ac, se, _, r, b = inputs(2)
    present = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    p1, _ = m(ac, se, present, r, b)
    p2, _ = m(ac, se * 1e3 + 5, present, r, b)
    torch.testing.assert_close(p1, p2)
    p3, _ = m(ac, se * 1e3 + 5, torch.ones(2, 2), r, b)
    assert not torch.allclose(p1, p3)                                # a present modality is read out
    torch.manual_seed(0)
    cls = EdgeREP(ModelConfig(**{**CFG.to_dict(), "readout": "cls"}), TINY).eval()
    cls.load_state_dict(m.state_dict())
    assert not torch.allclose(cls(ac, se, present, r, b)[0], p1)     # the readout matters


def test_config_legacy_fields_and_bad_readout():
    old = {k: v for k, v in ModelConfig().to_dict().items() if k not in ("frame_pool", "readout")}
    cfg = ModelConfig.from_dict(old)            # a sidecar written before these fields existed
    assert cfg.frame_pool is False and cfg.readout == "cls"
    with pytest.raises(EdgeRepError, match="readout"):
        ModelConfig.from_dict({**old, "readout": "max"})


def test_parameter_budget_default_config():
    m = EdgeREP(ModelConfig(), MOD)
    c = m.count_parameters()
    assert c["backbone"] <= 1_000_000
    m.set_trainable("adapter")
    rep_only = m.count_parameters()["trainable"]
    assert rep_only <= 0.05 * c["backbone"]
    assert all(not p.requires_grad for n, p in m.named_parameters() if n.startswith("blocks."))


def test_onnx_export_runs_in_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    m = tiny_model()
    names = ["acoustic", "seismic", "present", "replay", "buffers_in"]
    ex = inputs(2)
    torch.onnx.export(m, ex, str(tmp_path / "m.onnx"), input_names=names, output_names=["probs", "buffers_out"],
                      opset_version=18, dynamo=True, verbose=False)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"))
    ac, se, _, _, b = inputs(2, seed=1)
    feed = {"acoustic": ac.numpy(), "seismic": se.numpy(), "present": np.array([[1, 0], [0, 1]], np.float32),
            "replay": np.array([[0, 1], [0, 0]], np.float32), "buffers_in": (b + 1).numpy()}
    probs, buf = sess.run(None, feed)
    ref_p, ref_b = m(*(torch.from_numpy(feed[n]) for n in names))
    np.testing.assert_allclose(probs, ref_p.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(buf, ref_b.detach().numpy(), atol=1e-4)


# ---- level normalisation, DCP baseline (issue 11) -----------------------------------------------------

def test_level_normalised_bands_are_gain_invariant_and_the_level_moves_in_20_db_steps():
    from edge_rep.frontend import LEVEL_UNIT
    fe = Frontend(plan(TINY, level_norm=True, level_feature=True))
    ac, se, *_ = inputs(4, seed=2)
    fe.calibrate({"acoustic": ac.numpy(), "seismic": se.numpy()}, np.ones((4, 2), bool))
    base = fe(ac, se)
    for gain_db in (-30.0, 20.0, 60.0):
        g = 10 ** (gain_db / 20)
        got = fe(ac * g, se * g)
        for m, (b, x) in enumerate(zip(base, got)):
            n = fe.plans[m].channels
            torch.testing.assert_close(x[..., :-n], b[..., :-n], atol=1e-4, rtol=0)      # band shapes: unchanged
            torch.testing.assert_close(x[..., -n:] - b[..., -n:], torch.full_like(b[..., -n:], gain_db / 20 *
                                       np.log(10) * 2 / LEVEL_UNIT), atol=1e-4, rtol=0)   # level: +gain/20 dB
    # a dropped (all-zero) window has finite features
    assert all(torch.isfinite(f).all() for f in fe(ac * 0, se * 0))


def test_level_feature_is_bounded_in_the_model():
    m = tiny_model()
    ac, se, p, r, b = inputs(2, seed=3)
    with torch.no_grad():
        m.frontend.calibrate({"acoustic": ac.numpy(), "seismic": se.numpy()}, np.ones((2, 2), bool))
        far = m(ac * 1e6, se, p, r, b)[0]            # +120 dB: beyond the +-60 dB bound
        farther = m(ac * 1e9, se, p, r, b)[0]        # +180 dB: the same as +120
    torch.testing.assert_close(far, farther, atol=1e-5, rtol=0)


def test_dcp_baseline_prompts_are_correlated_dynamic_and_exportable(tmp_path):
    from edge_rep.train import method_config
    torch.manual_seed(0)
    m = EdgeREP(method_config(CFG, "dcp"), TINY).eval()
    assert m.cfg.dcp_prompts == CFG.buffer_tokens and not m.cfg.rep and not m.cfg.map_prompts
    with torch.no_grad():
        m.dcp_up.weight.normal_(0, 0.5)               # make the input-conditioned part non-zero
        m.dcp_base.normal_(0, 1.0)
    m.set_trainable("adapter")
    names = {n for n, p in m.named_parameters() if p.requires_grad}
    assert {"dcp_base", "dcp_common", "dcp_down.weight", "dcp_up.weight"} <= names
    assert not any(n.startswith("blocks.") for n in names)
    assert m.count_parameters()["trainable"] < 0.2 * m.count_parameters()["total"]
    ac, se, p, r, b = inputs(2, seed=4)
    base = m(ac, se, p, r, b)[0]
    other = m(ac * 3 + 1, se, p, r, b)[0]             # input-conditioned prompts: the output follows the input
    assert not torch.allclose(base, other)
    with pytest.raises(EdgeRepError, match="use one"):
        ModelConfig(map_prompts=2, dcp_prompts=2).validate()
    pytest.importorskip("onnxscript")
    from edge_rep.checkpoint import save_model
    from edge_rep.onnx_export import export_onnx
    meta = save_model(m, tmp_path / "dcp.safetensors")
    _, rows = export_onnx(m, meta, tmp_path / "dcp.onnx", log=lambda s: None)   # raises unless ORT == torch
    assert max(r["probs_max_abs"] for r in rows) < 1e-4


def test_floor_referenced_model_is_gain_invariant_and_needs_the_floor_input():
    """With the level above the site's noise floor (the default), a sensor gain off by +-30 dB leaves the
    probabilities as they are (the floor moves with the level), while the level above the floor matters."""
    torch.manual_seed(0)
    m = EdgeREP(ModelConfig(**{**CFG.to_dict(), "level_reference": "floor"}), TINY).eval()
    assert m.frontend.floor_referenced and len(m.example_inputs(1)) == 6
    with torch.no_grad():      # as calibrate() sets it: inputs about 1 after the scale (the TINY floor is far)
        m.frontend.scale1.fill_(1e-6)
    ac, se, pres, r, b = inputs(3)
    above = torch.tensor([[0.0, 0.0], [12.0, 30.0], [40.0, -3.0]])
    with torch.no_grad():
        p0, _ = m(ac, se, pres, r, b, above)
        for g_db in (-30.0, 30.0):
            g = 10 ** (g_db / 20)
            p1, _ = m(ac * g, se * g, pres, r, b, above)
            np.testing.assert_allclose(p1.numpy(), p0.numpy(), atol=1e-5)
        p2, _ = m(ac, se, pres, r, b, above + 20.0)
    assert np.abs(p2.numpy() - p0.numpy()).max() > 1e-4
    with pytest.raises(EdgeRepError, match="above_floor_db"):
        m.frontend(ac, se)
