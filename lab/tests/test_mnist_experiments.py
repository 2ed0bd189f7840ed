"""The paper's networks and the MNIST figures' code path, on a small synthetic slice."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from superaccel_lab.experiments import _mnist, fig5, fig6, runner
from superaccel_lab.problems.networks import nielsen_network, quadratic_cost


def test_nielsen_initialisation():
    net = nielsen_network((784, 30, 10), seed=3)
    w, b = net[0].weight, net[0].bias
    assert w.std().item() == pytest.approx(1 / 28, rel=0.05)
    assert b.std().item() == pytest.approx(1.0, rel=0.5)
    assert isinstance(net[-1], torch.nn.Sigmoid) and len(net) == 4
    again = nielsen_network((784, 30, 10), seed=3)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), again.parameters(), strict=True))
    layers = [m.out_features for m in nielsen_network((784, 15, 15, 10)) if isinstance(m, torch.nn.Linear)]
    assert layers == [15, 15, 10]


def test_quadratic_cost_readings():
    outputs = torch.tensor([[0.0, 1.0], [0.5, 0.5]])
    labels = torch.tensor([0, 1])
    # squared distances to the one-hot targets: 2 and 0.5
    assert quadratic_cost(outputs, labels).item() == pytest.approx(0.5 * (2 + 0.5) / 2)
    assert quadratic_cost(outputs, labels, "euclidean").item() == pytest.approx((2**0.5 + 0.5**0.5) / 2)
    with pytest.raises(ValueError, match="Invalid cost reading"):
        quadratic_cost(outputs, labels, "l1")


@pytest.fixture
def synthetic_mnist(monkeypatch):
    """A few hundred learnable images: the label is encoded in which pixels are bright."""
    gen = torch.Generator().manual_seed(0)

    def fake_load(split, *args, **kwargs):
        n = 300 if split == "train" else 100
        labels = torch.arange(n) % 10
        images = torch.rand(n, 784, generator=gen) * 0.2
        for digit in range(10):
            images[labels == digit, digit * 70:(digit + 1) * 70] += 0.8
        return images, labels

    monkeypatch.setattr(_mnist, "load_mnist", fake_load)


def test_training_loop_evaluates_at_theta(synthetic_mnist):
    data = _mnist.mnist_data(quick=True)
    curve = _mnist.train(runner.momentum_method(0.5, 4.0), (784, 30, 10), data, 5, phi_every=1)
    net = nielsen_network((784, 30, 10), seed=0)
    opt = runner.momentum_method(0.5, 4.0).build(list(net.parameters()))
    for _ in range(5):
        opt.zero_grad()
        quadratic_cost(net(data[0]), data[1]).backward()
        opt.step()
    opt.eval()
    with torch.no_grad():
        assert curve.loss[-1] == pytest.approx(float(quadratic_cost(net(data[2]), data[3])))
    opt.train()
    with torch.no_grad():
        assert curve.phi_loss[-1] == pytest.approx(float(quadratic_cost(net(data[2]), data[3])))
    assert curve.loss[-1] != curve.phi_loss[-1]


def test_minibatches_cover_an_epoch_without_repeats(synthetic_mnist):
    data = _mnist.mnist_data(quick=True)
    seen = []
    original = quadratic_cost

    def spy(outputs, labels, reading="nielsen"):
        if outputs.requires_grad:
            seen.append(len(labels))
        return original(outputs, labels, reading)

    _mnist.quadratic_cost, saved = spy, _mnist.quadratic_cost
    try:
        _mnist.train(runner.momentum_method(0.5, 2.0), (784, 30, 10), data, 3, batch_size=100)
    finally:
        _mnist.quadratic_cost = saved
    assert seen == [100, 100, 100]


@pytest.mark.parametrize("module, ids", [
    (fig5, ["sigma4-beats-smaller-sigma", "sigma20-works-and-beats-4-two-layer", "late-curves-merge",
            "conclusion-independent-of-loss-reading"]),
    (fig6, ["minibatch-larger-sigma-faster-early", "minibatch-long-time-sigma-independent"]),
], ids=["fig5", "fig6"])
def test_mnist_figures_compute_their_claims_and_the_theta_phi_gap(synthetic_mnist, module, ids):
    data, claims = module.compute(quick=True)
    assert [c.id for c in claims] == ids
    curves = data["networks"]["784-30-10"] if module is fig5 else data["runs"]["0"]
    largest = 0.0  # |accuracy at θ − accuracy at φ| at the steps where both were measured, recomputed
    for run in curves:
        at_theta = dict(zip(run["steps"], run["accuracy"], strict=True))
        for step, acc in zip(run["phi_steps"], run["phi_accuracy"], strict=True):
            if step in at_theta and step > 0:
                largest = max(largest, abs(at_theta[step] - acc))
    assert data["theta_vs_phi"]["max_accuracy_gap"] >= largest > 0


def _curve(method, sigma, loss, accuracy):
    spec = runner.OptimizerSpec(method, 0.5, momentum=0.0 if method == "gd" else 0.9, sigma=sigma)
    return {"spec": dataclasses.asdict(spec), "label": spec.label, "steps": np.arange(len(loss)), "loss": loss,
            "accuracy": accuracy, "diverged_at": None}


@pytest.mark.parametrize("sigma4_wins", [True, False])
def test_fig5_claim_follows_the_losses(sigma4_wins):
    runs = [_curve("gd", 0.0, np.full(5, 0.5), np.full(5, 0.8))]
    for s in fig5.SIGMAS:
        good = s == 4.0 if sigma4_wins else s == 0.0
        runs.append(_curve("momentum", s, np.full(5, 0.1 if good else 0.3), np.full(5, 0.9)))
    data = {"networks": {"784-30-10": runs, "784-15-15-10": runs}, "euclidean_reading_784-30-10": runs,
            "steps": 4}
    claims = {c.id: c.holds for c in fig5.claims(data)}
    assert claims["sigma4-beats-smaller-sigma"] is sigma4_wins
    assert claims["conclusion-independent-of-loss-reading"] is sigma4_wins
