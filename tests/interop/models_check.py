#!/usr/bin/python3
"""The shipped graph models (ResNet-8, DS-CNN): `lsuv forward` against PyTorch.

Each spec becomes a torch module (spec_to_torch), with PyTorch's random initialisation and
BatchNorm state unlike the identity (random gamma, beta, running_mean, positive running_var,
num_batches_tracked); its state_dict is saved as a weights directory, and `lsuv forward` runs
random NCHW inputs at every kernel level this build and CPU have, batch 1 and an odd batch. The
reference is PyTorch in float64; the bound is lsuv_program.compare's (1e-5 of the largest
|output|, or four times float32 PyTorch's own error when that is larger). Prints one line per
(model, level, batch). Exits 1 on any mismatch, 77 when python3-torch is not installed.

usage: models_check.py LSUV_PROGRAM SPEC...
"""
import os
import sys
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
try:
    import numpy as np
    import torch
except ImportError:
    print("python3-torch or python3-numpy is not installed: skipped")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lsuv_program  # noqa: E402
import spec_to_torch  # noqa: E402

BATCHES = (1, 5)
SEED = 11


def torch_outputs(spec, weights, x):
    """PyTorch's output in float64 (the reference) and float32, from the saved weights."""
    outputs = []
    for dtype in (torch.float64, torch.float32):
        model = spec_to_torch.build(spec, dtype)
        spec_to_torch.load_weights(model, weights)
        with torch.no_grad():
            outputs.append(model(torch.from_numpy(x).to(dtype)).numpy())
    return outputs


def check(lsuv, levels, spec_path, workdir):
    label = os.path.splitext(os.path.basename(spec_path))[0]
    spec = spec_to_torch.load_spec(spec_path)
    torch.manual_seed(SEED)
    model = spec_to_torch.build(spec)
    spec_to_torch.randomize_batch_norms(model, torch.Generator().manual_seed(SEED))
    weights = os.path.join(workdir, label + "-weights")
    spec_to_torch.save_weights(model, weights)
    rng = np.random.default_rng(SEED)
    ok, worst = True, 0.0
    for batch in BATCHES:
        x = rng.standard_normal((batch,) + spec.input_shape).astype(np.float32)
        x_path = os.path.join(workdir, f"{label}-x{batch}.npy")
        np.save(x_path, x)
        expected, float32 = torch_outputs(spec, weights, x)
        for level in levels:
            where = f"{label} {level} batch {batch}"
            got, error = lsuv_program.forward(lsuv, level, spec_path, weights, x_path,
                                              os.path.join(workdir, f"{label}-y.npy"))
            if got is None:
                print(f"{where}: lsuv forward failed: {error}")
                ok = False
                continue
            if got.shape != expected.shape:
                print(f"{where}: shape {got.shape}, PyTorch's {expected.shape} FAIL")
                ok = False
                continue
            relative, float32_relative, passed = lsuv_program.compare(got, expected, float32)
            worst = max(worst, relative)
            print(f"{where}: output {got.shape}, worst error {relative:.2e} of max |output| "
                  f"(float32 PyTorch {float32_relative:.2e}) {'ok' if passed else 'FAIL'}")
            ok = ok and passed
    return ok, worst


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[-1])
        sys.exit(2)
    lsuv, specs = sys.argv[1], sys.argv[2:]
    torch.set_num_threads(1)
    levels, skipped = lsuv_program.available_levels(lsuv)
    print(f"kernel levels: {', '.join(levels)}"
          + (f"; skipped (not in this build or CPU): {', '.join(skipped)}" if skipped else ""))
    all_ok, worst = True, 0.0
    with tempfile.TemporaryDirectory() as workdir:
        for spec_path in specs:
            ok, model_worst = check(lsuv, levels, spec_path, workdir)
            all_ok, worst = all_ok and ok, max(worst, model_worst)
    print(f"{len(specs)} models, levels {', '.join(levels)}, batches "
          f"{', '.join(map(str, BATCHES))}: worst error {worst:.2e} of max |output|; "
          + ("all agree" if all_ok else "MISMATCH"))
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
