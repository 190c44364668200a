"""Transformer Engine's FP8 (E4M3) Linear as plain torch, for the Evo 2 fixtures.

evo2's 40B runs its Hyena input projections through TE's `Linear` under `fp8_autocast`
(docs/evo2.md, "FP8 input projections"); TE needs CUDA, so the fixtures emulate it:

  * scale = 448 / amax (fp32, margin 0), amax the largest |value| of the whole tensor one
    call sees (the input) or of the whole weight; 1 where amax is 0;
  * q = the E4M3 value nearest value * scale, saturated to +-448 as TE's casts are
    (__NV_SATFINITE; torch's own cast turns overflow into NaN, hence the clamp), ties to even;
  * y = (q_x @ q_w^T) * ((1 / scale_x) * (1 / scale_w)), the GEMM accumulating in fp32.

The scale here is each call's own amax ("current" scaling). TE's DelayedScaling takes the
max over a history of earlier calls' amaxes; docs/evo2.md says why llmpi does not.
"""

import math

import torch

E4M3_MAX = 448.0


def e4m3_scale(amax):
    amax = float(torch.as_tensor(amax, dtype=torch.float32))
    if not (amax > 0.0) or not math.isfinite(amax):
        return torch.tensor(1.0, dtype=torch.float32)
    return torch.tensor(E4M3_MAX, dtype=torch.float32) / torch.tensor(amax, dtype=torch.float32)


def to_e4m3(values):
    """Nearest E4M3 values (fp32 in, fp32 out), saturating."""
    return values.clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn).to(torch.float32)


def midpoint_distance(scaled):
    """Smallest distance, in units of the E4M3 step there, from any of `scaled` (values
    already multiplied by their scale) to a rounding midpoint: how far a value may move
    before it rounds the other way. The saturated amax (about 448) is left out."""
    m = scaled.detach().abs().double().flatten()
    m = m[(m > 0) & (m < 440.0)]
    if m.numel() == 0:
        return 0.5
    step = torch.exp2(torch.clamp(torch.floor(torch.log2(m)) - 3, min=-9))
    f = m / step
    return float(((f - torch.floor(f)) - 0.5).abs().min())


class Fp8Linear(torch.nn.Module):
    """y = x W^T as TE's FP8 GEMM (no bias); `weight` keeps its name, so state dicts match.
    Records the smallest midpoint distance of every input it quantizes in `self.closest`."""

    def __init__(self, weight):
        super().__init__()
        self.weight = weight
        self.closest = 0.5

    def forward(self, x):
        x32 = x.to(torch.float32)
        w32 = self.weight.to(torch.float32)
        sx = e4m3_scale(x32.abs().max())
        sw = e4m3_scale(w32.abs().max())
        self.closest = min(self.closest, midpoint_distance(x32 * sx))
        qx = to_e4m3(x32 * sx)
        qw = to_e4m3(w32 * sw)
        y = torch.nn.functional.linear(qx, qw) * ((1.0 / sx) * (1.0 / sw))
        return y.to(x.dtype)
