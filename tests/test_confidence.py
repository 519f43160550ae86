"""Calibrated confidence: temperature scaling, ECE, the uncertain threshold, and the temperature inside the graph."""

import numpy as np
import torch

from edge_rep.confidence import (ece, fit_temperature, nll, nontarget_kind_per_window, reliability, softmax,
                                 uncertain_threshold)
from edge_rep.model import EdgeREP, ModelConfig
from edge_rep.recording import Channels, Recording
from tiny_data import TINY


def sampled(n=20000, k=4, temperature=1.0, seed=0):
    """Labels drawn from softmax(logits / temperature): logits over-confident by that temperature."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (n, k))
    p = softmax(logits / temperature)
    y = (p.cumsum(1) > rng.random((n, 1))).argmax(1)
    return logits, y


def test_fit_temperature_recovers_the_temperature_that_generated_the_labels():
    logits, y = sampled(temperature=2.5)
    t = fit_temperature(logits, y)
    assert abs(t - 2.5) < 0.15
    assert nll(logits, y, t) < nll(logits, y, 1.0)
    # fitting on log-probabilities gives the same temperature (softmax(log p / T) = softmax(logits / T))
    assert abs(fit_temperature(np.log(softmax(logits)), y) - t) < 1e-3
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, int)) == 1.0


def test_ece_is_small_when_calibrated_and_large_when_over_confident():
    logits, y = sampled(temperature=1.0)
    assert ece(softmax(logits), y) < 0.02
    assert ece(softmax(logits * 4), y) > 0.1                      # the same predictions claimed surer
    r = reliability(softmax(logits), y)
    assert len(r["windows"]) == 15 and sum(r["windows"]) == len(y) and r["ece"] == ece(softmax(logits), y)
    # by hand: two windows, one bin each
    probs = np.array([[0.95, 0.05], [0.3, 0.7]])
    assert abs(ece(probs, np.array([1, 1])) - (0.5 * 0.95 + 0.5 * 0.3)) < 1e-9


def test_uncertain_threshold_flags_the_asked_share_of_target_windows():
    conf = np.random.default_rng(1).uniform(0.3, 1.0, 10000)
    t = uncertain_threshold(conf, 0.04)
    assert abs((conf < t).mean() - 0.04) < 0.002


def test_the_graph_divides_each_scenarios_logits_by_its_temperature():
    torch.manual_seed(0)
    cfg = ModelConfig(width=16, n_layer=2, n_head=2, buffer_tokens=2, rep_layer=1, dropout=0.0)
    m = EdgeREP(cfg, TINY).eval()
    x = (torch.randn(2, 1, 800), torch.randn(2, 1, 100) * 1e-6, torch.tensor([[1.0, 1.0], [0.0, 1.0]]),
         torch.zeros(2, 2), torch.zeros(2, 2, 2, 16), torch.tensor([[10.0, 5.0], [0.0, 20.0]]))
    with torch.no_grad():
        p1, _ = m(*x)
        m.set_temperature({"complete": 2.0, "acoustic_missing": 0.5})
        p2, _ = m(*x)
    np.testing.assert_allclose(p2[0].numpy(), softmax(np.log(p1[:1].numpy()) / 2.0)[0], atol=1e-5)
    np.testing.assert_allclose(p2[1].numpy(), softmax(np.log(p1[1:].numpy()) / 0.5)[0], atol=1e-5)
    assert (p2.argmax(1) == p1.argmax(1)).all()                   # calibration changes no prediction
    assert m.state_dict()["temperature"].tolist() == [2.0, 0.5, 1.0]   # saved with the weights


def test_nontarget_kind_of_each_window():
    rec = Recording("r", {"seismic": Channels(np.zeros((1, 1000)), 100.0, 0.0, "m/s")}, [],
                    metadata={"nontarget": [[2.0, 3.2, "thunder"], [5.5, 9.0, "rain"]]})

    class Arrays:
        rec = np.zeros(8, int)
        start = np.arange(8) * 1.0

    kinds = nontarget_kind_per_window([rec], Arrays, window_s=2.0)
    # windows [t, t+2): overlap >= 0.5 s with [2, 3.2] or [5.5, 9]
    assert kinds.tolist() == ["", "thunder", "thunder", "", "rain", "rain", "rain", "rain"]
