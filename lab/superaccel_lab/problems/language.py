"""A small decoder-only transformer for character-level language modelling.

Pre-LayerNorm blocks (causal self-attention, then a GELU MLP of four times the width),
learned position embeddings, the output layer tied to the token embedding, GPT-2's
initialization (N(0, 0.02), residual projections scaled by 1/√(2·layers)); with
``bias=False``, nanoGPT's model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["CharTransformer", "random_windows", "language_model_loss"]


class _Block(nn.Module):
    def __init__(self, width: int, heads: int, bias: bool) -> None:
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(width, bias=bias)
        self.qkv = nn.Linear(width, 3 * width, bias=bias)
        self.attention_out = nn.Linear(width, width, bias=bias)
        self.mlp_norm = nn.LayerNorm(width, bias=bias)
        self.mlp_in = nn.Linear(width, 4 * width, bias=bias)
        self.mlp_out = nn.Linear(4 * width, width, bias=bias)

    def matrices(self) -> list[nn.Parameter]:
        return [self.qkv.weight, self.attention_out.weight, self.mlp_in.weight, self.mlp_out.weight]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv(self.attention_norm(x)).split(width, dim=2)
        q, k, v = (t.view(batch, length, self.heads, width // self.heads).transpose(1, 2) for t in (q, k, v))
        attended = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attention_out(attended.transpose(1, 2).reshape(batch, length, width))
        return x + self.mlp_out(nn.functional.gelu(self.mlp_in(self.mlp_norm(x))))


class CharTransformer(nn.Module):
    """Next-character logits ``[batch, length, vocabulary]`` from ids ``[batch, length]``."""

    def __init__(self, vocabulary: int, context: int = 64, width: int = 128, layers: int = 2,
                 heads: int = 4, bias: bool = True) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"Invalid heads: {heads} (must divide width {width})")
        self.context = context
        self.token_embedding = nn.Embedding(vocabulary, width)
        self.position_embedding = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(_Block(width, heads, bias) for _ in range(layers))
        self.final_norm = nn.LayerNorm(width, bias=bias)
        self.apply(self._initialize)
        for block in self.blocks:
            for projection in (block.attention_out, block.mlp_out):
                nn.init.normal_(projection.weight, std=0.02 / math.sqrt(2 * layers))

    @staticmethod
    def _initialize(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def hidden_matrices(self) -> list[nn.Parameter]:
        """The blocks' 2-D weights: what Muon optimizes (not the embeddings, which are also the
        output layer, nor gains and biases)."""
        return [matrix for block in self.blocks for matrix in block.matrices()]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        length = ids.shape[1]
        if length > self.context:
            raise ValueError(f"sequence of {length} characters is longer than the context {self.context}")
        x = self.token_embedding(ids) + self.position_embedding(torch.arange(length, device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.final_norm(x) @ self.token_embedding.weight.T


def random_windows(tokens: torch.Tensor, batch: int, length: int,
                   generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless (inputs, next characters) batches of windows at uniform random offsets."""
    if len(tokens) <= length:
        raise ValueError(f"Invalid length: {length} (the text has {len(tokens)} characters)")
    offsets = torch.arange(length + 1)
    while True:
        starts = torch.randint(0, len(tokens) - length, (batch,), generator=generator)
        windows = tokens[starts[:, None] + offsets]
        yield windows[:, :-1], windows[:, 1:]


def language_model_loss(model: CharTransformer, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in nats per character."""
    logits = model(inputs)
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
