"""Independent oracle: the paper's equations transcribed literally in numpy, in θ-form.

Nothing here imports superaccel. Each function iterates θ (not the look-ahead point) on a
quadratic loss L(θ) = ½ θᵀAθ − bᵀθ and returns, for every step i, θ^(i+1) and the
look-ahead point θ^(i+1) + σ_{i+1} m^(i) that the next gradient will be taken at.
"""

from __future__ import annotations

import numpy as np


def quadratic(dim: int, seed: int = 0, low: float = 0.1, high: float = 2.0):
    """A random SPD matrix with eigenvalues in [low, high], a vector b and a start θ0."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    a = q @ np.diag(np.linspace(low, high, dim)) @ q.T
    return a, rng.standard_normal(dim), rng.standard_normal(dim)


def grad(a, b, x):
    return a @ x - b


def eq4(a, b, theta0, lr, g, sigmas):
    """Eq. (4): m_i = g m_{i-1} − η ∇L(θ_i + σ_i m_{i-1}); θ_{i+1} = θ_i + m_i.

    ``sigmas[i]`` is the σ of the look-ahead at step i (len(sigmas) = steps + 1).
    """
    theta, m = theta0.copy(), np.zeros_like(theta0)
    thetas, lookaheads = [], []
    for i in range(len(sigmas) - 1):
        m = g * m - lr * grad(a, b, theta + sigmas[i] * m)
        theta = theta + m
        thetas.append(theta.copy())
        lookaheads.append(theta + sigmas[i + 1] * m)
    return np.array(thetas), np.array(lookaheads)


def eq16(a, b, theta0, lr, g, beta2, eps, sigmas):
    """Eq. (16): RMSProp with momentum and super-acceleration, ε inside the square root."""
    theta, m, r = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0)
    thetas, lookaheads = [], []
    for i in range(len(sigmas) - 1):
        gradient = grad(a, b, theta + sigmas[i] * m)
        r = beta2 * r + (1 - beta2) * gradient**2
        m = g * m - lr / np.sqrt(r + eps) * gradient
        theta = theta + m
        thetas.append(theta.copy())
        lookaheads.append(theta + sigmas[i + 1] * m)
    return np.array(thetas), np.array(lookaheads)


def adam(a, b, theta0, lr, beta1, beta2, eps, sigmas, decoupled_weight_decay=0.0):
    """Adam's step s_t = −η m̂_t/(√v̂_t + ε) (− ηλθ_t with decoupled weight decay λ, as
    AdamW), the gradient taken at θ_t + σ s_{t−1}."""
    theta, s = theta0.copy(), np.zeros_like(theta0)
    m, v = np.zeros_like(theta0), np.zeros_like(theta0)
    thetas, lookaheads = [], []
    for i in range(len(sigmas) - 1):
        t = i + 1
        gradient = grad(a, b, theta + sigmas[i] * s)
        m = beta1 * m + (1 - beta1) * gradient
        v = beta2 * v + (1 - beta2) * gradient**2
        s = -lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps) - lr * decoupled_weight_decay * theta
        theta = theta + s
        thetas.append(theta.copy())
        lookaheads.append(theta + sigmas[i + 1] * s)
    return np.array(thetas), np.array(lookaheads)


class IllConditioned:
    """½ θᵀAθ with A's eigenvalues log-spaced from 1/κ to 1 in a random basis; minimum 0."""

    def __init__(self, dim: int, condition_number: float, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        self.eigenvalues = np.geomspace(1 / condition_number, 1.0, dim)
        self.matrix = basis @ np.diag(self.eigenvalues) @ basis.T
        self._start = rng.standard_normal(dim)

    def start(self) -> np.ndarray:
        return self._start.copy()

    def loss(self, theta):
        """On a torch tensor (float64)."""
        return 0.5 * theta @ theta.new_tensor(self.matrix) @ theta
