"""Run by tests/test_distributed.py in 2 processes (gloo): each trains on half the batch."""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist

from tests.optim_db import native_db

STEPS = 10
OPTIMIZERS = [info for info in native_db if info.name != "SuperAdamW"]
# every implementation at σ = 3, and σ chosen by the optimizer (its sums all-reduced under FSDP2)
CASES = [(info, impl, 3.0) for info in OPTIMIZERS for impl in info.impls] + [
    (info, "single", "auto") for info in OPTIMIZERS]


def make(info, impl, sigma, params):
    return info.make(params, sigma=sigma, weight_decay=1e-3, **info.impl_kwargs(impl))


def model_and_data():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(16, 4, generator=gen, dtype=torch.float64)
    return model, x, torch.sin(x.sum(1, keepdim=True))


def train(model, optimizer, x, y) -> float:
    """Train, move to θ, and return the last σ."""
    for _ in range(STEPS):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    optimizer.eval()  # compare θ
    return optimizer.param_groups[0]["sigma"]


def single_process(info, impl, sigma):
    model, x, y = model_and_data()
    with info.impl_context(impl):
        final_sigma = train(model, make(info, impl, sigma, model.parameters()), x, y)
    return [p.detach().clone() for p in model.parameters()], final_sigma


def worker(rank, world, init_file, out_file):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    results = {}
    for mode in ("ddp", "fsdp"):
        for info, impl, sigma in CASES:
            model, x, y = model_and_data()
            if mode == "ddp":
                model = torch.nn.parallel.DistributedDataParallel(model)
            else:
                from torch.distributed.device_mesh import init_device_mesh
                from torch.distributed.fsdp import fully_shard

                mesh = init_device_mesh("cpu", (world,))
                for layer in model:
                    if isinstance(layer, torch.nn.Linear):
                        fully_shard(layer, mesh=mesh)
                fully_shard(model, mesh=mesh)
            half = len(x) // world
            with info.impl_context(impl):
                final_sigma = train(model, make(info, impl, sigma, model.parameters()),
                                    x[rank * half:(rank + 1) * half], y[rank * half:(rank + 1) * half])
            params = [p.full_tensor() if hasattr(p, "full_tensor") else p for p in model.parameters()]
            sigmas = [None] * world
            dist.all_gather_object(sigmas, final_sigma)
            results[(mode, info.name, impl, sigma)] = ([p.detach().clone() for p in params], sigmas)
    if rank == 0:
        torch.save(results, out_file)
    # both ranks leave together: a rank tearing gloo down while the other still works can abort
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    import torch.multiprocessing as mp

    mp.spawn(worker, args=(2, sys.argv[1], sys.argv[2]), nprocs=2)
