r"""Fused update kernels: one compiled elementwise pass over memory per tensor.

Each optimizer writes its update once, as plain tensor arithmetic on flat tensors with its
hyperparameters in a small coefficient tensor (a row of :mod:`superaccel.rules`' named
tuple per tensor).  :class:`FusedKernel` compiles it with ``torch.compile`` (Inductor:
vectorized C++ with OpenMP on the CPU, Triton on CUDA) and applies it to chunks of ``CHUNK``
tensors per call.  These choices keep the compiled code general, so that it is compiled once
per dtype and device and never again:

- every hyperparameter, bias correction and flag (σ, lr, weight decay, ``maximize``) is
  data in the coefficient tensor, computed on the host per step, so schedules change
  values, not the graph, and the kernel does no scalar work per element;
- tensors are flattened and their sizes are dynamic symbols, one per tensor ("duck
  shaping" is off while tracing, so tensors that happen to share a size do not tie the
  graph to that coincidence); tensors of fewer than 2 elements, which Dynamo would
  specialize on, take the single-tensor path, as do non-contiguous ones;
- sizes stay *backed* symbols: with unbacked ones Inductor cannot prove that a parameter
  and its buffers have the same length and writes each result through a temporary;
- a short last chunk is padded with 2-element scratch tensors, so every call has the same
  arity, and every input is a plain tensor (not a view, not requiring grad), so no guard
  tells parameters from padding or weights from biases.

Chunking is the compromise between the Python and guard overhead of a compiled call, paid
per chunk (too much per tensor for models with hundreds of small tensors, if chunks were
small), and the compile time of one graph over a whole parameter list, which grows steeply
with its length and ties the graph to it.  That overhead is why the CPU, outside
``torch.compile``, runs the same algebra as a C++ kernel instead (:mod:`._cpu_kernels`: one
call per step for all tensors); the compiled kernels serve CUDA, traced steps, and the CPU
where that kernel cannot be built.  docs/benchmarks.md has the measurements.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from . import _cpu_kernels
from ._core import Scalar

CHUNK = 16


def _flat(tensor: Tensor) -> Tensor:
    """A 1-D real tensor sharing ``tensor``'s memory, not a view in autograd's sense and not
    requiring grad: Dynamo guards on whether an input is a view (it reads ``._base``), so
    mixing views (flattened weights) and non-views (biases, padding) would recompile."""
    if tensor.is_complex():
        tensor = torch.view_as_real(tensor)
    return tensor.view(-1).detach()


def opmath(tensor: Tensor) -> torch.dtype:
    """Compute in float64 for float64 tensors and in float32 otherwise (as torch's fused kernels)."""
    return torch.float64 if tensor.dtype == torch.float64 else torch.float32


class FusedKernel:
    """Apply ``chunk_fn`` to fixed-size chunks of flat tensors, compiled on first use.

    ``chunk_fn(tensor_lists, coefficients, *flags)`` receives, for each role (param, grad,
    state buffers...), a list of ``CHUNK`` flat tensors, a tensor of shape
    ``(CHUNK, n)`` holding each tensor's coefficients (the fields of ``coefficients``, a
    named tuple of :mod:`superaccel.rules`, in order), and structural flags (``maximize``,
    whether a weight-decay term exists: constants of the graph, so that an absent term costs
    nothing per element); it updates the tensors in place.
    Each optimizer defines its own ``chunk_fn`` so that each has its own compile cache, and
    names its function in the CPU kernels (``cpu_name``), which take the same lists and rows.
    """

    def __init__(self, chunk_fn: Callable[[list[list[Tensor]], Tensor], None], cpu_name: str,
                 coefficients: type[tuple], chunk: int = CHUNK) -> None:
        self.chunk_fn = chunk_fn
        self.cpu_name = cpu_name
        self.coefficients = coefficients
        self.chunk = chunk
        self._compiled: Callable | None = None
        self._traced: set[tuple] = set()
        self._scratch_tensors: dict[tuple, list[Tensor]] = {}

    def __call__(self, tensor_lists: Sequence[list[Tensor]], rows: tuple | list[tuple],
                 views: dict | None = None, flags: tuple[bool, ...] = ()) -> list[int]:
        """Update aligned lists of tensors (one device and dtype per list) in place, tensor
        i with coefficient row ``rows[i]`` (or one shared row, an instance of ``coefficients``).

        ``tensor_lists[1]`` holds the gradients, new every step; the flat views of the other
        (persistent) tensors are kept in ``views`` (a dict of the caller's) and checked
        against the tensors' addresses before use.  ``flags`` are structural choices (such
        as ``maximize``) passed to ``chunk_fn`` as constants.  On the CPU, outside
        ``torch.compile``, the lists go to the C++ kernel ``cpu_name`` instead (one call, no
        views).  Returns the indices of the parameters it left alone (non-contiguous, or with
        fewer than 2 elements on the compiled path): the caller updates them on the
        single-tensor path.
        """
        distributed = hasattr(tensor_lists[0][0], "to_local")
        persistent = [[t.to_local() for t in ts] if distributed else ts
                      for ts in (tensor_lists[0], *tensor_lists[2:])]
        grads = [g.to_local() for g in tensor_lists[1]] if distributed else tensor_lists[1]
        shared = isinstance(rows, self.coefficients)
        if persistent[0][0].device.type == "cpu" and not torch.compiler.is_compiling():
            cpu_kernels = _cpu_kernels.load()
            if cpu_kernels is not None:
                return getattr(cpu_kernels, self.cpu_name)([persistent[0], grads, *persistent[1:]],
                                                           [rows] if shared else rows, *flags)
        key = tuple(map(id, tensor_lists[0]))
        addresses = [t.data_ptr() for ts in persistent for t in ts]
        entry = None if views is None else views.get(key)
        if entry is None or entry[0] != addresses:
            entry = (addresses, *_plan(persistent))
            if views is not None:
                views[key] = entry
        _, fused, skipped, flat_persistent = entry
        flat_grads = [grads[i] for i in fused]
        if not all(g.is_contiguous() for g in flat_grads):  # rare: fall back for those parameters
            keep = [j for j, g in enumerate(flat_grads) if g.is_contiguous()]
            skipped = sorted(skipped + [fused[j] for j in range(len(fused)) if j not in set(keep)])
            fused = [fused[j] for j in keep]
            flat_persistent = [[ts[j] for j in keep] for ts in flat_persistent]
            flat_grads = [flat_grads[j] for j in keep]
        if not fused:
            return skipped
        flat_lists = [flat_persistent[0], [_flat(g) for g in flat_grads], *flat_persistent[1:]]
        row_list = rows if shared else [rows[i] for i in fused]
        if torch.compiler.is_compiling():  # inside a compiled step: one traced call, no chunks
            self.chunk_fn(flat_lists, _coefficients([row_list] * len(fused) if shared else row_list,
                                                    flat_lists[0][0]), *flags)
            return skipped
        self._apply_in_chunks(flat_lists, row_list, shared, flags)
        return skipped

    def _apply_in_chunks(self, flat_lists: list[list[Tensor]], rows, shared: bool, flags: tuple[bool, ...]) -> None:
        if self._compiled is None:
            self._compiled = torch.compile(self.chunk_fn, fullgraph=True, dynamic=True)
        like = flat_lists[0][0]
        key = (like.device, *(ts[0].dtype for ts in flat_lists), *flags)
        count = len(flat_lists[0])
        shared_coefficients = _coefficients([rows] * self.chunk, like) if shared else None
        # the options cost about 1 ms to enter: only while this key may still be traced
        with _tracing_options() if key not in self._traced else contextlib.nullcontext():
            for start in range(0, count, self.chunk):
                chunk = [ts[start:start + self.chunk] for ts in flat_lists]
                missing = self.chunk - len(chunk[0])
                if missing:
                    for role, ts in enumerate(chunk):
                        ts.extend(self._scratch(role, ts[0])[:missing])
                if shared:
                    coefficients = shared_coefficients
                else:
                    chunk_rows = rows[start:start + self.chunk]
                    coefficients = _coefficients(list(chunk_rows) + [[0.0] * len(chunk_rows[0])] * missing, like)
                try:
                    self._compiled(chunk, coefficients, *flags)
                except Exception as error:
                    if key in self._traced:
                        raise
                    raise RuntimeError(
                        "fused=True compiles its update with torch.compile (Inductor: a C++ compiler on the CPU, "
                        f"Triton on CUDA), which failed here: {type(error).__name__}: {error}. Use foreach=True "
                        "or the default implementation instead."
                    ) from error
                self._traced.add(key)

    def _scratch(self, role: int, like: Tensor) -> list[Tensor]:
        """Distinct 2-element tensors to pad a chunk's ``role`` list with (written, never read
        back; distinct so that the compiled graph sees no aliasing)."""
        key = (role, like.device, like.dtype)
        if key not in self._scratch_tensors:
            self._scratch_tensors[key] = [torch.zeros(2, dtype=like.dtype, device=like.device)
                                          for _ in range(self.chunk)]
        return self._scratch_tensors[key]


def _plan(persistent: list[list[Tensor]]) -> tuple[list[int], list[int], list[list[Tensor]]]:
    """(indices that can be fused, the others, flat views of the fusable persistent tensors)."""
    fused, skipped = [], []
    for index, tensors in enumerate(zip(*persistent, strict=True)):
        ok = tensors[0].numel() >= 2 and all(t.is_contiguous() for t in tensors)
        (fused if ok else skipped).append(index)
    return fused, skipped, [[_flat(ts[i]) for i in fused] for ts in persistent]


def _tracing_options() -> contextlib.AbstractContextManager:
    """Options that matter when a chunk is traced (see the module docstring): room for a
    graph per dtype, device and flag combination; every size its own symbol; no size
    asserts in the generated wrapper (the guards already check); and an OpenMP parallel
    loop whatever the sizes at the first call (Inductor otherwise decides from the sizes it
    first sees, and its on-disk cache would keep a serial kernel compiled for a small
    model).  Entering them costs about 1 ms, so calls enter them only for a new key."""
    from torch._dynamo import config as dynamo_config
    from torch._inductor import config as inductor_config
    from torch.fx.experimental import _config as fx_config

    stack = contextlib.ExitStack()
    # one graph per dtype, device and flags: more than Dynamo's default limit of 8 per
    # function in a process that uses several (a hard error under fullgraph=True)
    stack.enter_context(dynamo_config.patch(recompile_limit=64))
    stack.enter_context(fx_config.patch(use_duck_shape=False))
    stack.enter_context(inductor_config.patch({"size_asserts": False, "cpp.dynamic_threads": True}))
    return stack


def _coefficients(rows: list[list[Scalar]], like: Tensor) -> Tensor:
    """The ``(len(rows), n)`` coefficient tensor, in the compute dtype of ``like`` (float32
    coefficients for float32 parameters load and broadcast about 8% faster in the kernel
    than float64 ones): built from floats in eager mode, stacked from traced values while
    ``torch.compile`` traces the step."""
    dtype, device = opmath(like), like.device
    if torch.compiler.is_compiling():
        zero = torch.zeros((), dtype=dtype, device=device)
        return torch.stack([torch.stack([zero + v.to(zero) if isinstance(v, Tensor) else zero + v for v in row])
                            for row in rows])
    return torch.tensor(rows, dtype=dtype, device=device)
