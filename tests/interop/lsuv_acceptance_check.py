#!/usr/bin/python3
"""LSUV on a graph model, checked in PyTorch: `lsuv init`, then `lsuv stats`, on Fashion-MNIST.

For each spec: `lsuv init` (seed variant, 16 batches of 64 training images) writes a weights
directory, which loads into the torch module (spec_to_torch). On the same 1024 calibration
images, in float64, forward hooks measure every conv/linear output (for a conv whose only reader
is the BatchNorm2d right after it, that BatchNorm's output, as lsuv measures): mean 0 +- 1e-4 and
std 1 +- 1e-3 (unbiased, over the whole tensor). The init report's "after" columns must agree
with those figures, its Add rows too (lsuv reports an Add's pre-activation output: for
`Add(relu=True)` the sum before the ReLU, not the module's output a PyTorch hook sees), and `lsuv stats` on held-out test images (the first 64
t10k images) with PyTorch's on the same images: 1e-4 absolute on the mean, 1e-4 relative on the
std (lsuv prints 4 decimals, so a printed figure is within 5e-5 of its value).

Exits 0 when every check passes, 1 on any failure, 77 (skipped) when python3-torch is missing
or the data set is not there: a skip never counts as a pass.

usage: lsuv_acceptance_check.py LSUV_PROGRAM [--data DIR] [--batches N] SPEC...
"""
import argparse
import gzip
import os
import sys
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
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

BATCH_SIZE = 64
MEAN, STD = 0.286, 0.353  # lsuv's default normalisation, passed explicitly to both sides
HELD_OUT = 64  # `lsuv stats`'s default: one batch of 64 t10k images
TRAIN, TEST = "train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"
CALIBRATION_MEAN, CALIBRATION_STD = 1e-4, 1e-3
AGREE_MEAN, AGREE_STD = 1e-4, 1e-4


def first_images(path, count, out):
    """Writes the first `count` images of a gzipped IDX3 file to `out`, a plain IDX3 file (lsuv
    built without zlib, as the aarch64 cross build is, reads only those), and returns them
    normalised as lsuv does, NCHW float32."""
    with gzip.open(path, "rb") as f:
        header = np.frombuffer(f.read(16), dtype=">u4").copy()
        if header[0] != 0x803 or header[1] < count:
            raise ValueError(f"{path}: not an IDX3 image file of at least {count} images")
        rows, cols = int(header[2]), int(header[3])
        pixels = np.frombuffer(f.read(count * rows * cols), dtype=np.uint8)
    header[1] = count
    with open(out, "wb") as f:
        f.write(header.astype(">u4").tobytes() + pixels.tobytes())
    images = (pixels.astype(np.float32) / np.float32(255.0) - np.float32(MEAN)) / np.float32(STD)
    return images.reshape(count, 1, rows, cols)


def measured_ops(spec):
    """(row name, op measured) for each conv/linear, as lsuv_measured_op picks, then each Add."""
    readers = {}
    previous = spec_to_torch.INPUT
    for op in spec.ops:
        for name in op.inputs or [previous]:
            readers.setdefault(name, []).append(op)
        previous = op.name
    rows = []
    for i, op in enumerate(spec.ops):
        if op.module in ("Conv2d", "Linear"):
            after = spec.ops[i + 1] if i + 1 < len(spec.ops) else None
            measured = op
            if (op.module == "Conv2d" and after is not None and after.module == "BatchNorm2d"
                    and readers.get(op.name) == [after]):
                measured = after
            rows.append((op.name, measured.name))
        elif op.module == "Add":
            rows.append((op.name, op.name))
    return rows


def torch_statistics(model, spec, images):
    """Mean and unbiased std of each row's measured tensor over all `images`, in float64.

    Forward hooks add up each tensor batch by batch (sums of x and x^2 in float64), so the
    whole 1024-image activations never sit in memory at once.
    """
    rows = measured_ops(spec)
    sums = {measured: [0.0, 0.0, 0] for _, measured in rows}
    handles = []
    for measured in sums:
        def hook(module, inputs, output, key=measured):
            # lsuv measures pre-activation outputs: an Add's is the sum before its fused ReLU.
            if isinstance(module, spec_to_torch.Add):
                output = sum(inputs[1:], inputs[0])
            values = output.detach().to(torch.float64)
            sums[key][0] += float(values.sum())
            sums[key][1] += float((values * values).sum())
            sums[key][2] += values.numel()
        handles.append(model.get_submodule(measured).register_forward_hook(hook))
    with torch.no_grad():
        for start in range(0, len(images), BATCH_SIZE):
            model(torch.from_numpy(images[start:start + BATCH_SIZE]).to(torch.float64))
    for handle in handles:
        handle.remove()
    stats = {}
    for row, measured in rows:
        total, squares, n = sums[measured]
        mean = total / n
        stats[row] = (mean, float(np.sqrt(max(squares - n * mean * mean, 0.0) / (n - 1))))
    return stats


def parse_table(text, header_word, mean_column, std_column):
    """{row: (mean, std)} from one of lsuv's tables: the lines after the header naming
    `header_word`, up to the first line that is not a row; "-" columns are skipped."""
    rows, inside = {}, False
    for line in text.splitlines():
        words = line.split()
        if not inside:
            inside = bool(words) and words[0] == "layer" and header_word in words
            continue
        if len(words) <= max(mean_column, std_column) or line[:2] != "  ":
            break
        try:
            rows[words[0]] = (float(words[mean_column]), float(words[std_column]))
        except ValueError:
            continue
    return rows


def compare_rows(what, lsuv_rows, torch_rows, names):
    ok = True
    missing = [n for n in names if n not in lsuv_rows]
    if missing:
        print(f"  {what}: no row for {', '.join(missing)} FAIL")
        ok = False
    worst_mean, worst_std = 0.0, 0.0
    for name in names:
        if name not in lsuv_rows:
            continue
        (mean, std), (torch_mean, torch_std) = lsuv_rows[name], torch_rows[name]
        mean_error, std_error = abs(mean - torch_mean), abs(std - torch_std) / torch_std
        worst_mean, worst_std = max(worst_mean, mean_error), max(worst_std, std_error)
        if mean_error > AGREE_MEAN or std_error > AGREE_STD:
            print(f"  {what}: {name}: lsuv mean {mean:.4f} std {std:.4f}, PyTorch "
                  f"{torch_mean:.6f} {torch_std:.6f} FAIL")
            ok = False
    print(f"  {what}: {len(names)} rows, worst |mean - PyTorch's| {worst_mean:.1e}, worst std "
          f"relative {worst_std:.1e} (bounds {AGREE_MEAN:g}, {AGREE_STD:g}) "
          + ("ok" if ok else "FAIL"))
    return ok


def check(lsuv, spec_path, data, batches, workdir):
    label = os.path.splitext(os.path.basename(spec_path))[0]
    print(f"{label}:")
    spec = spec_to_torch.load_spec(spec_path)
    weights = os.path.join(workdir, label + "-lsuv")
    normalisation = ["--mean", str(MEAN), "--std", str(STD)]
    train = os.path.join(workdir, "train-images-idx3-ubyte")
    test = os.path.join(workdir, "t10k-images-idx3-ubyte")
    calibration_images = first_images(os.path.join(data, TRAIN), batches * BATCH_SIZE, train)
    held_out_images = first_images(os.path.join(data, TEST), HELD_OUT, test)
    report = lsuv_program.run(lsuv, "init", "--spec", spec_path, "--out", weights,
                              "--images", train, "--variant", "seed",
                              "--batches", str(batches), "--batch-size", str(BATCH_SIZE),
                              *normalisation)
    model = spec_to_torch.build(spec, torch.float64)
    spec_to_torch.load_weights(model, weights)
    rows = measured_ops(spec)
    layers = [row for row, _ in rows if spec.ops[[o.name for o in spec.ops].index(row)].module
              != "Add"]

    calibration = torch_statistics(model, spec, calibration_images)
    ok = True
    worst_mean = max(abs(calibration[n][0]) for n in layers)
    worst_std = max(abs(calibration[n][1] - 1.0) for n in layers)
    for name in layers:
        mean, std = calibration[name]
        if abs(mean) > CALIBRATION_MEAN or abs(std - 1.0) > CALIBRATION_STD:
            print(f"  calibration: {name}: PyTorch mean {mean:.2e}, std {std:.6f} FAIL")
            ok = False
    print(f"  calibration ({batches * BATCH_SIZE} images, PyTorch float64): {len(layers)} "
          f"conv/linear outputs, worst |mean| {worst_mean:.1e}, worst |std - 1| {worst_std:.1e} "
          f"(bounds {CALIBRATION_MEAN:g}, {CALIBRATION_STD:g}) " + ("ok" if ok else "FAIL"))
    ok = compare_rows("init report on calibration data", parse_table(report, "iters", 3, 4),
                      calibration, [row for row, _ in rows]) and ok

    stats = lsuv_program.run(lsuv, "stats", "--spec", spec_path, "--weights", weights,
                             "--images", test, "--batches", "1",
                             "--batch-size", str(HELD_OUT), *normalisation)
    held_out = torch_statistics(model, spec, held_out_images)
    ok = compare_rows(f"lsuv stats on {HELD_OUT} held-out t10k images",
                      parse_table(stats, "module", 2, 3), held_out, layers) and ok
    return ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("lsuv")
    parser.add_argument("specs", nargs="+")
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--batches", type=int, default=16,
                        help="calibration batches of 64 (the acceptance is 16)")
    options = parser.parse_args()
    missing = [n for n in (TRAIN, TEST) if not os.path.exists(os.path.join(options.data, n))]
    if missing:
        print(f"{options.data} has no {', '.join(missing)} (Debian's dataset-fashion-mnist): "
              "the LSUV acceptance check is skipped, not passed")
        sys.exit(77)
    torch.set_num_threads(1)
    all_ok = True
    with tempfile.TemporaryDirectory() as workdir:
        for spec_path in options.specs:
            all_ok = check(options.lsuv, spec_path, options.data, options.batches, workdir) and all_ok
    print("all agree" if all_ok else "FAIL")
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
