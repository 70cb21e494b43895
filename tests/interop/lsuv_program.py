"""Running the lsuv program from the interop checks: kernel levels and `lsuv forward`."""
import os
import re
import shlex
import subprocess

import numpy as np

# Every level lsuv can be limited to (src/kernels/dispatch.cpp): x86-64's and ARM's. A level the
# build or the CPU lacks leaves another in use (`lsuv --version` says which) and is skipped.
LEVELS = ("ref", "sse2", "avx2", "avx512", "neon")


def command(lsuv, *args):
    # In a cross build Meson names the emulator (qemu) that runs the target's programs.
    return shlex.split(os.environ.get("MESON_EXE_WRAPPER", "")) + [lsuv, *args]


def level_in_use(lsuv, level):
    env = dict(os.environ, LSUV_CPU=level)
    out = subprocess.run(command(lsuv, "--version"), env=env, check=True, capture_output=True,
                         text=True).stdout
    match = re.search(r"kernels (\w+)", out)
    return match.group(1) if match else None


def available_levels(lsuv):
    """The levels this build and CPU run, and those skipped."""
    levels, skipped = [], []
    for level in LEVELS:
        (levels if level_in_use(lsuv, level) == level else skipped).append(level)
    return levels, skipped


def run(lsuv, *args, level=None):
    """Runs lsuv with these arguments; returns its stdout, or raises naming the command."""
    env = dict(os.environ, LSUV_CPU=level) if level else None
    result = subprocess.run(command(lsuv, *args), env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command(lsuv, *args))} failed ({result.returncode}): "
                           f"{result.stderr.strip()}")
    return result.stdout


def forward(lsuv, level, spec, weights, x, out):
    """`lsuv forward` at one kernel level; returns the output array, or the error text."""
    env = dict(os.environ, LSUV_CPU=level)
    result = subprocess.run(command(lsuv, "forward", "--spec", spec, "--weights", weights,
                                    "--input", x, "--output", out),
                            env=env, capture_output=True, text=True)
    if result.returncode != 0:
        return None, result.stderr.strip()
    return np.load(out), ""


def compare(got, torch64, torch32):
    """Relative error of lsuv's output against float64 PyTorch, and whether it passes.

    The bound is 1e-5 of the largest |output|, or four times float32 PyTorch's own distance from
    float64 when cancellation in the model makes float32 itself less accurate than that.
    """
    scale = float(np.abs(torch64).max()) or 1.0
    error = float(np.abs(got.astype(np.float64) - torch64).max())
    float32_error = float(np.abs(torch32.astype(np.float64) - torch64).max())
    bound = max(1e-5 * scale, 4.0 * float32_error)
    return error / scale, float32_error / scale, error <= bound
