"""torch.compile: an optimizer step compiles as one graph and matches eager execution."""

import pytest
import torch

from superaccel import SuperAdam, SuperSGD


@pytest.mark.parametrize("make", [
    lambda p: SuperSGD(p, lr=0.05, foreach=True),
    lambda p: SuperAdam(p, lr=1e-2, foreach=False),
], ids=["sgd-foreach", "adam-single"])
def test_compiled_step_matches_eager(make):
    torch._dynamo.reset()
    torch.manual_seed(0)
    eager_model = torch.nn.Linear(8, 1)
    compiled_model = torch.nn.Linear(8, 1)
    compiled_model.load_state_dict(eager_model.state_dict())
    eager_opt, compiled_opt = make(eager_model.parameters()), make(compiled_model.parameters())
    x, y = torch.randn(32, 8), torch.randn(32, 1)

    @torch.compile(fullgraph=True)
    def compiled_step():
        compiled_opt.step()

    for _ in range(4):
        for model, opt, step in ((eager_model, eager_opt, eager_opt.step), (compiled_model, compiled_opt, compiled_step)):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            step()
    for a, b in zip(eager_model.parameters(), compiled_model.parameters()):
        torch.testing.assert_close(a, b)
