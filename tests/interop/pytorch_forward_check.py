#!/usr/bin/python3
"""Side-by-side check: `lsuv forward` against PyTorch on the same weights and input.

For each model below, PyTorch initialises the weights, saves its state_dict as a directory of
.npy files (the one-liner a PyTorch user writes), runs an NCHW batch, and the lsuv program runs
the same spec, weights and input. Exits 0 when every output agrees to 1e-5 relative, 77 (Meson's
"skipped") when python3-torch is not installed.

usage: pytorch_forward_check.py LSUV_PROGRAM SEED_SPEC
"""
import os
import shlex
import subprocess
import sys
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
try:
    import numpy as np
    import torch
    from torch import nn
except ImportError:
    print("python3-torch or python3-numpy is not installed: skipped")
    sys.exit(77)


class Seed(nn.Module):
    """The blog post's network."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5, stride=2, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 16, 3, padding=2)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(16, 32, 3, padding=2)
        self.relu3 = nn.ReLU()
        self.conv4 = nn.Conv2d(32, 32, 3, padding=2)
        self.relu4 = nn.ReLU()
        self.avg = nn.AdaptiveAvgPool2d(1)
        self.l1 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.relu1(self.conv1(x))
        x = self.relu2(self.conv2(x))
        x = self.relu3(self.conv3(x))
        x = self.relu4(self.conv4(x))
        return self.l1(torch.flatten(self.avg(x), 1))


MIXED_SPEC = """\
input: 3x13x11
conv1: Conv2d(3, 6, kernel_size=(3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=3)
relu1: ReLU()
dw: Conv2d(6, 12, kernel_size=3, padding=1, groups=6, bias=False)
pool: MaxPool2d(kernel_size=2, stride=2, padding=1)
avgp: AvgPool2d(kernel_size=3, stride=1, padding=1)
flat: Flatten()
l1: Linear(336, 7)
"""


class Mixed(nn.Module):
    """Groups, dilation, non-square kernels, no bias, pooling, and a Flatten of a 4x7 map."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=3)
        self.relu1 = nn.ReLU()
        self.dw = nn.Conv2d(6, 12, 3, padding=1, groups=6, bias=False)
        self.pool = nn.MaxPool2d(2, stride=2, padding=1)
        self.avgp = nn.AvgPool2d(3, stride=1, padding=1)
        self.flat = nn.Flatten()
        self.l1 = nn.Linear(336, 7)

    def forward(self, x):
        x = self.avgp(self.pool(self.dw(self.relu1(self.conv1(x)))))
        return self.l1(self.flat(x))


def check(lsuv, spec_path, model, input_shape, workdir, name):
    torch.manual_seed(0)
    weights = os.path.join(workdir, name + "-weights")
    os.makedirs(weights)
    for k, v in model.state_dict().items():
        np.save(f"{weights}/{k}.npy", v.numpy())
    x = torch.randn(*input_shape)
    input_path = os.path.join(workdir, name + "-input.npy")
    output_path = os.path.join(workdir, name + "-output.npy")
    np.save(input_path, x.numpy())
    with torch.no_grad():
        expected = model(x).numpy()
    # In a cross build Meson names the emulator (qemu) that runs the target's programs.
    wrapper = shlex.split(os.environ.get("MESON_EXE_WRAPPER", ""))
    subprocess.run(wrapper + [lsuv, "forward", "--spec", spec_path, "--weights", weights,
                    "--input", input_path, "--output", output_path], check=True)
    got = np.load(output_path)
    if got.shape != expected.shape:
        print(f"{name}: shape {got.shape} != PyTorch's {expected.shape}")
        return False
    scale = np.abs(expected).max()
    worst = float(np.abs(got - expected).max() / scale)
    ok = worst <= 1e-5
    print(f"{name}: output {got.shape}, largest difference {worst:.2e} of max |output| "
          f"({'ok' if ok else 'FAIL'}, bound 1e-5)")
    return ok


def main():
    lsuv, seed_spec = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as workdir:
        mixed_spec = os.path.join(workdir, "mixed.spec")
        with open(mixed_spec, "w") as f:
            f.write(MIXED_SPEC)
        ok = check(lsuv, seed_spec, Seed(), (64, 1, 28, 28), workdir, "seed")
        ok = check(lsuv, mixed_spec, Mixed(), (5, 3, 13, 11), workdir, "mixed") and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
