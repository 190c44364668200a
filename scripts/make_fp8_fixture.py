#!/usr/bin/env python3
"""Write tests/fixtures/fp8/e4m3_rounding.json: float32 inputs and the E4M3 values PyTorch's
float8_e4m3fn cast gives them, saturated to +-448 first as Transformer Engine's casts are
(scripts/te_fp8.py). The C++ rounding (src/backend/fp8_e4m3.cpp) is checked against it.

Inputs: every finite E4M3 value, the midpoints between neighbours (ties: round to even) and
the float32 values either side of each midpoint, values past 448, subnormals, signed zeros,
and random values over the whole range (infinities are checked in the test itself: JSON
has none). Run with the venv of make_evo2_fixtures.sh:
    .venv-evo2/bin/python scripts/make_fp8_fixture.py
"""

import json
from pathlib import Path

import numpy as np
import torch

import te_fp8

REPO = Path(__file__).resolve().parent.parent


def main():
    codes = torch.arange(256, dtype=torch.uint8).view(torch.float8_e4m3fn).to(torch.float32)
    finite = torch.unique(codes[torch.isfinite(codes)])  # sorted; +0 and -0 merge
    mids = (finite[1:].double() + finite[:-1].double()) / 2  # exact in float32
    mids = mids.to(torch.float32)
    up = torch.nextafter(mids, torch.full_like(mids, np.inf))
    down = torch.nextafter(mids, torch.full_like(mids, -np.inf))
    special = torch.tensor([0.0, -0.0, 448.0, -448.0, 449.0, 464.0, 480.0, 1e6, -1e6,
                            2.0 ** -9, 2.0 ** -10, 3 * 2.0 ** -11, 2.0 ** -11, 1e-30],
                           dtype=torch.float32)
    g = torch.Generator().manual_seed(2026)
    random = torch.exp2(torch.rand(4000, generator=g) * 22 - 12) * \
        torch.where(torch.rand(4000, generator=g) < 0.5, -1.0, 1.0)
    inputs = torch.cat([finite, mids, up, down, special, random.to(torch.float32)])
    expected = te_fp8.to_e4m3(inputs)
    assert torch.isfinite(expected).all()
    out = {
        "what": "round_to_e4m3: torch.float8_e4m3fn cast of clamp(x, -448, 448)",
        "torch_version": torch.__version__,
        "inputs": [float(np.float32(v)) for v in inputs.tolist()],
        "expected": [float(v) for v in expected.tolist()],
    }
    path = REPO / "tests" / "fixtures" / "fp8" / "e4m3_rounding.json"
    path.write_text(json.dumps(out, separators=(",", ":"), allow_nan=False) + "\n")
    print(f"{path}: {len(out['inputs'])} values")


if __name__ == "__main__":
    main()
