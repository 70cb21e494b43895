#!/usr/bin/python3
"""`lsuv train` against PyTorch: the same initial weights, the same data order, the same SGD.

`lsuv init` (LSUV, seed variant, on the first batch) writes a weights directory; `lsuv train`
starts from it for STEPS steps (one epoch of STEPS x BATCH Fashion-MNIST training images, SGD
lr 0.05, momentum 0.9) and writes each step's loss (--history) and the epoch's data order
(--order-out). PyTorch loads the same weights into the spec's torch module (spec_to_torch), takes
the batches in that order from the same standardised images (float32, as lsuv computes them),
and trains with torch.optim.SGD: once in float64 (the reference) and MEMBERS times in float32, the
first from exactly lsuv's weights, the others from those weights each moved by one float32 ulp
in a random direction (seeded). "Within float noise" is what those float32 runs show: training
is not a smooth function of the weights (a ReLU input or a max-pool winner that sits within
rounding of its kink goes one way or the other), so runs that start within one rounding of each
other part at such a step and stay apart (measured: from one armv7 LSUV start, three of eight
float64 runs perturbed by 1e-7 took the branch lsuv's AVX2, AVX-512 and NEON kernels took, with
a 1.5e-5 jump in the loss at step 4; the others stayed with the reference kernels' branch). At
every step lsuv's loss must be as close to the float64 run's as the farthest float32 run has
come up to that step, within a factor NOISE_FACTOR (at least 1e-6 relative); the final weights
likewise, tensor by tensor. The gaps are printed.

Exits 0 when everything agrees, 1 otherwise, 77 (skipped) without python3-torch or the data set.

usage: train_check.py LSUV_PROGRAM SPEC [--steps N] [--batch-size N] [--data DIR]
"""
import argparse
import gzip
import os
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lsuv_program  # noqa: E402
import spec_to_torch  # noqa: E402

MEAN, STD = 0.286, 0.353
LR, MOMENTUM = 0.05, 0.9
TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
NOISE_FACTOR = 10.0
NOISE_FLOOR = 1e-6
MEMBERS = 8


def first_records(path, header_words, count, record_bytes, out):
    """Writes the first `count` records of a gzipped IDX file to `out` uncompressed (lsuv built
    without zlib reads only those) and returns their bytes."""
    with gzip.open(path, "rb") as f:
        header = np.frombuffer(f.read(4 * header_words), dtype=">u4").copy()
        if header[1] < count:
            raise ValueError(f"{path}: fewer than {count} records")
        data = np.frombuffer(f.read(count * record_bytes), dtype=np.uint8)
    header[1] = count
    with open(out, "wb") as f:
        f.write(header.astype(">u4").tobytes() + data.tobytes())
    return data


def run(lsuv, *args):
    """Runs lsuv (through a cross build's emulator, MESON_EXE_WRAPPER); returns its stdout."""
    command = lsuv_program.command(lsuv, *args)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(" ".join(command) + " failed:\n" + result.stdout + result.stderr)
    return result.stdout


def float32_rounding_apart(model, seed):
    """Multiplies every parameter of `model` by 1 + e, e normal with the standard deviation of
    one float32 rounding's relative error (2^-24), drawn with `seed`."""
    generator = np.random.default_rng(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            e = generator.standard_normal(tuple(parameter.shape)) * 2.0 ** -24
            parameter.mul_(torch.from_numpy(1.0 + e).to(parameter.dtype))


def torch_run(spec, start, x, y, order, steps, batch, dtype, perturbation=None):
    """Each step's loss (before the update) and the trained module, in `dtype`, from the weights
    in `start` (moved by float32 rounding with seed `perturbation` unless it is None)."""
    model = spec_to_torch.build(spec, dtype)
    spec_to_torch.load_weights(model, start)
    if perturbation is not None:
        float32_rounding_apart(model, perturbation)
    model.eval()  # BatchNorm trains in eval mode in lsuv (frozen running statistics)
    optimiser = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = nn.CrossEntropyLoss()
    x = x.to(dtype)
    losses = []
    for step in range(steps):
        index = torch.from_numpy(order[step * batch:(step + 1) * batch].astype(np.int64))
        loss = loss_fn(model(x[index]), y[index])
        losses.append(loss.item())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return np.array(losses), model.state_dict()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("lsuv")
    parser.add_argument("spec")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    options = parser.parse_args()
    if not all(os.path.exists(os.path.join(options.data, n)) for n in (TRAIN_IMAGES, TRAIN_LABELS)):
        print(f"{options.data} has no Fashion-MNIST training files: skipped, not passed")
        sys.exit(77)
    torch.set_num_threads(1)
    steps, batch = options.steps, options.batch_size
    count = steps * batch
    with tempfile.TemporaryDirectory() as work:
        images_path, labels_path = os.path.join(work, "images.idx"), os.path.join(work, "labels.idx")
        pixels = first_records(os.path.join(options.data, TRAIN_IMAGES), 4, count, 28 * 28,
                               images_path)
        labels = first_records(os.path.join(options.data, TRAIN_LABELS), 2, count, 1, labels_path)
        start, trained = os.path.join(work, "start"), os.path.join(work, "trained")
        history, order = os.path.join(work, "history.npy"), os.path.join(work, "order.npy")
        run(options.lsuv, "init", "--spec", options.spec, "--out", start, "--images", images_path,
            "--batch-size", str(batch), "--mean", str(MEAN), "--std", str(STD))
        run(options.lsuv, "train", "--spec", options.spec, "--weights", start, "--out", trained,
            "--images", images_path, "--labels", labels_path, "--test-images", images_path,
            "--test-labels", labels_path, "--test-count", str(batch), "--batch-size", str(batch),
            "--lr", str(LR), "--momentum", str(MOMENTUM), "--mean", str(MEAN), "--std", str(STD),
            "--history", history, "--order-out", order, "--log-every", "0")
        lsuv_losses = np.load(history)[:, 0].astype(np.float64)
        order = np.load(order)[0]

        x = (pixels.astype(np.float32) / np.float32(255.0) - np.float32(MEAN)) / np.float32(STD)
        x = torch.from_numpy(x.reshape(count, 1, 28, 28))
        y = torch.from_numpy(labels.astype(np.int64))
        spec = spec_to_torch.load_spec(options.spec)
        losses64, state64 = torch_run(spec, start, x, y, order, steps, batch, torch.float64)
        members = [torch_run(spec, start, x, y, order, steps, batch, torch.float32,
                             None if member == 0 else member) for member in range(MEMBERS)]

        scale = np.maximum(1.0, np.abs(losses64))
        spread = np.max([np.abs(losses - losses64) / scale for losses, _ in members], axis=0)
        noise = np.maximum(np.maximum.accumulate(spread), NOISE_FLOOR)
        gap = np.abs(lsuv_losses - losses64) / scale if len(lsuv_losses) == steps else None
        ok = gap is not None and bool(np.all(gap <= NOISE_FACTOR * noise))
        if gap is not None:
            worst = int(np.argmax(gap / noise))
            print(f"{steps} steps of {batch}: loss {losses64[0]:.6f} -> {losses64[-1]:.6f} "
                  f"(torch float64); lsuv's relative gap to it: first 10 steps "
                  f"{gap[:10].max():.2e}, all {gap.max():.2e} (the farthest of {MEMBERS} torch "
                  f"float32 runs: {noise[min(9, steps - 1)]:.2e}, {noise[-1]:.2e}); worst against "
                  f"the noise at step {worst + 1}")
        for key, value in state64.items():
            reference = value.detach().numpy()
            size = max(float(np.abs(reference).max()), 1e-30)
            mine = float(np.abs(np.load(os.path.join(trained, key + ".npy")) - reference).max())
            theirs = max(float(np.abs(state[key].detach().numpy() - reference).max())
                         for _, state in members)
            print(f"  {key}: largest gap to float64 {mine / size:.2e} of the largest weight "
                  f"(the farthest torch float32 run: {theirs / size:.2e})")
            ok = ok and mine / size <= NOISE_FACTOR * max(theirs / size, NOISE_FLOOR)
    print("agree" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
