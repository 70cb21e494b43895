#!/usr/bin/python3
"""`lsuv train` against PyTorch: the same initial weights, the same data order, the same SGD.

`lsuv init` (LSUV, seed variant, on the first batch) writes a weights directory; `lsuv train`
starts from it for STEPS steps (one epoch of STEPS x BATCH Fashion-MNIST training images, SGD
lr 0.05, momentum 0.9) and writes each step's loss (--history) and the epoch's data order
(--order-out). PyTorch loads the same weights into the spec's torch module (spec_to_torch), takes
the batches in that order from the same standardised images (float32, as lsuv computes them),
and trains with torch.optim.SGD, once in float32 and once in float64. Float noise grows along a
run (the first steps agree to ~1e-7, step 100 to ~1e-4), so the measure of "within float noise"
is PyTorch's own float32 run: at every step, lsuv's loss must be as close to the float64 run's as
PyTorch's float32 loss is, within a factor NOISE_FACTOR (against the largest float32 gap up to
that step, at least 1e-6 relative); the final weights likewise, tensor by tensor. The gaps are
printed.

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


def torch_run(spec, start, x, y, order, steps, batch, dtype):
    """Each step's loss (before the update) and the trained module, in `dtype`."""
    model = spec_to_torch.build(spec, dtype)
    spec_to_torch.load_weights(model, start)
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
    return np.array(losses), model


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
        runs = {dtype: torch_run(spec, start, x, y, order, steps, batch, dtype)
                for dtype in (torch.float32, torch.float64)}
        (losses32, model32), (losses64, model64) = runs[torch.float32], runs[torch.float64]

        scale = np.maximum(1.0, np.abs(losses64))
        noise = np.maximum(np.maximum.accumulate(np.abs(losses32 - losses64) / scale), NOISE_FLOOR)
        gap = np.abs(lsuv_losses - losses64) / scale if len(lsuv_losses) == steps else None
        ok = gap is not None and bool(np.all(gap <= NOISE_FACTOR * noise))
        if gap is not None:
            worst = int(np.argmax(gap / noise))
            print(f"{steps} steps of {batch}: loss {losses64[0]:.6f} -> {losses64[-1]:.6f} "
                  f"(torch float64); lsuv's relative gap to it: first 10 steps "
                  f"{gap[:10].max():.2e}, all {gap.max():.2e} (torch float32's: "
                  f"{noise[9]:.2e}, {noise[-1]:.2e}); worst against the noise at step {worst + 1}")
        state32 = model32.state_dict()
        for key, value in model64.state_dict().items():
            reference = value.detach().numpy()
            size = max(float(np.abs(reference).max()), 1e-30)
            mine = float(np.abs(np.load(os.path.join(trained, key + ".npy")) - reference).max())
            theirs = float(np.abs(state32[key].detach().numpy() - reference).max())
            print(f"  {key}: largest gap to float64 {mine / size:.2e} of the largest weight "
                  f"(torch float32: {theirs / size:.2e})")
            ok = ok and mine / size <= NOISE_FACTOR * max(theirs / size, NOISE_FLOOR)
    print("agree" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
