"""The paper's networks and the MNIST figures' code path, on a small synthetic slice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from superaccel.experiments import _mnist, fig5, fig6, runner
from superaccel.problems.networks import nielsen_network, quadratic_cost


def test_nielsen_initialisation():
    net = nielsen_network((784, 30, 10), seed=3)
    w, b = net[0].weight, net[0].bias
    assert w.std().item() == pytest.approx(1 / 28, rel=0.05)
    assert b.std().item() == pytest.approx(1.0, rel=0.5)
    assert isinstance(net[-1], torch.nn.Sigmoid) and len(net) == 4
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), nielsen_network((784, 30, 10), seed=3).parameters()))
    assert [m.out_features for m in nielsen_network((784, 15, 15, 10)) if isinstance(m, torch.nn.Linear)] == [15, 15, 10]


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
    curve = _mnist.train(runner.super_sgd(0.5, 4.0), (784, 30, 10), data, 5, phi_every=1)
    net = nielsen_network((784, 30, 10), seed=0)
    opt = runner.super_sgd(0.5, 4.0).build(list(net.parameters()))
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
        _mnist.train(runner.super_sgd(0.5, 2.0), (784, 30, 10), data, 3, batch_size=100)
    finally:
        _mnist.quadratic_cost = saved
    assert seen == [100, 100, 100]


@pytest.mark.parametrize("module", [fig5, fig6], ids=["fig5", "fig6"])
def test_mnist_figures_compute_claims_on_a_slice(synthetic_mnist, module):
    data, claims = module.compute(quick=True)
    assert claims and all(isinstance(c.holds, bool) for c in claims)
    gap = data["theta_vs_phi"]
    assert 0 <= gap["max_accuracy_gap"] <= 1 and np.isfinite(gap["max_relative_loss_gap"])
