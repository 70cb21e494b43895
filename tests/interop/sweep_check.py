#!/usr/bin/python3
"""Seeded random-model sweep: `lsuv forward` against PyTorch at every kernel level.

Generates models in lsuv's spec grammar, gives them random weights (a weights directory) and
random NCHW inputs, runs each through `lsuv forward` at every kernel level this CPU has, at
batch 1 and an odd batch, and compares with PyTorch in float64. The bound is 1e-5 of the largest
|output|, widened to four times float32 PyTorch's own error on models where cancellation makes
float32 itself less accurate. Exits 1 on any mismatch, shape difference or refused model.

Parts (--parts, comma-separated):
  chain    convolutions in every configuration, pools, ReLU, flatten/linear heads
  endings  models that end in Linear then ReLU, Flatten then ReLU, Flatten then Flatten, and
           padding=same/valid written unquoted as PyTorch 1.13's print(model) does
  graph    residual blocks (Add of two branches, optional ReLU, projection convs) and
           depthwise-separable blocks with BatchNorm2d, ReLU6 and Hardtanh

usage: sweep_check.py LSUV_PROGRAM [--models N] [--seed S] [--parts chain,endings,graph]
"""
import argparse
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

PARTS = ("chain", "endings", "graph")
ODD_BATCH = 5


def size_text(v):
    return str(v[0]) if v[0] == v[1] else f"({v[0]}, {v[1]})"


def out_size(n, kernel, stride, pad, dilation):
    return (n + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


class Builder:
    """Appends spec lines while tracking the shape of the last tensor."""

    def __init__(self, rng, shape):
        self.rng = rng
        self.lines = [f"input: {shape[0]}x{shape[1]}x{shape[2]}"]
        self.shape = shape  # (C, H, W), or (F,) after a Linear or Flatten
        self.count = 0
        self.last = "input"

    def name(self, stem):
        self.count += 1
        return f"{stem}{self.count}"

    def add(self, name, text, shape, inputs=None):
        call = f"({', '.join(inputs)})" if inputs else ""
        self.lines.append(f"{name}: {text}{call}")
        self.shape = shape
        self.last = name
        return name

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def pair(self, low, high, square_odds=0.6):
        if self.rng.random() < square_odds:
            v = int(self.rng.integers(low, high + 1))
            return (v, v)
        return (int(self.rng.integers(low, high + 1)), int(self.rng.integers(low, high + 1)))

    def conv(self, quote_padding=True):
        c, h, w = self.shape
        for _ in range(200):
            r = self.rng.random()
            if r < 0.5:
                groups = 1
                out = int(self.rng.integers(1, 13))
            elif r < 0.75:
                groups = c
                out = c * int(self.rng.integers(1, 3))
            else:
                groups = self.pick([g for g in range(1, c + 1) if c % g == 0])
                out = groups * int(self.rng.integers(1, max(1, 12 // groups) + 1))
            kernel = self.pair(1, 5)
            stride = self.pair(1, 3) if self.rng.random() < 0.4 else (1, 1)
            dilation = self.pair(1, 2) if self.rng.random() < 0.3 else (1, 1)
            r = self.rng.random()
            args = [f"{c}, {out}, kernel_size={size_text(kernel)}"]
            if stride != (1, 1):
                args.append(f"stride={size_text(stride)}")
            spans = [d * (k - 1) for d, k in zip(dilation, kernel)]
            if r < 0.15 and stride == (1, 1) and all(s % 2 == 0 for s in spans):
                pad = tuple(s // 2 for s in spans)
                word = "same"
            elif r < 0.25:
                pad = (0, 0)
                word = "valid"
            else:
                pad = self.pair(0, 2)
                word = None
            if word is not None:
                args.append(f"padding='{word}'" if quote_padding else f"padding={word}")
            elif pad != (0, 0):
                args.append(f"padding={size_text(pad)}")
            if dilation != (1, 1):
                args.append(f"dilation={size_text(dilation)}")
            if groups != 1:
                args.append(f"groups={groups}")
            if self.rng.random() < 0.3:
                args.append("bias=False")
            oh = out_size(h, kernel[0], stride[0], pad[0], dilation[0])
            ow = out_size(w, kernel[1], stride[1], pad[1], dilation[1])
            if oh >= 1 and ow >= 1:
                return self.add(self.name("conv"), f"Conv2d({', '.join(args)})", (out, oh, ow))
        raise RuntimeError("no convolution fits")

    def pool(self):
        c, h, w = self.shape
        for _ in range(200):
            kernel = self.pair(1, 3)
            stride = self.pair(1, 3) if self.rng.random() < 0.5 else kernel
            pad = (int(self.rng.integers(0, kernel[0] // 2 + 1)),
                   int(self.rng.integers(0, kernel[1] // 2 + 1)))
            oh = out_size(h, kernel[0], stride[0], pad[0], 1)
            ow = out_size(w, kernel[1], stride[1], pad[1], 1)
            if oh < 1 or ow < 1:
                continue
            kind = self.pick(["MaxPool2d", "AvgPool2d"])
            args = [f"kernel_size={size_text(kernel)}"]
            if stride != kernel:
                args.append(f"stride={size_text(stride)}")
            if pad != (0, 0):
                args.append(f"padding={size_text(pad)}")
            return self.add(self.name("pool"), f"{kind}({', '.join(args)})", (c, oh, ow))
        return None

    def relu(self):
        return self.add(self.name("relu"), "ReLU()", self.shape)

    def features(self):
        f = 1
        for v in self.shape:
            f *= v
        return f

    def linear(self, out=None):
        out = out or int(self.rng.integers(1, 12))
        bias = "" if self.rng.random() < 0.8 else ", bias=False"
        return self.add(self.name("fc"), f"Linear({self.features()}, {out}{bias})", (out,))

    def flatten(self):
        return self.add(self.name("flat"), "Flatten()", (self.features(),))

    def chain_body(self, steps, quote_padding=True):
        for _ in range(steps):
            r = self.rng.random()
            if r < 0.55:
                self.conv(quote_padding)
            elif r < 0.75:
                self.pool()
            else:
                self.relu()

    def chain_head(self):
        r = self.rng.random()
        if r < 0.2:
            return  # the image itself is the output
        if r < 0.4:
            self.add(self.name("gap"), "AdaptiveAvgPool2d(1)", (self.shape[0], 1, 1))
            self.linear()
        elif r < 0.6:
            self.flatten()
            self.linear()
        elif r < 0.75:
            self.linear()
            self.relu()
            self.linear()
        elif r < 0.9:
            self.linear()
        else:
            self.flatten()

    def activation(self):
        r = self.rng.random()
        if r < 0.5:
            return self.relu()
        if r < 0.75:
            return self.add(self.name("relu6_"), "ReLU6()", self.shape)
        low = -round(float(self.rng.uniform(0.1, 1.5)), 3)
        high = round(float(self.rng.uniform(0.1, 1.5)), 3)
        return self.add(self.name("clamp"), f"Hardtanh({low}, {high})", self.shape)

    def batch_norm(self, name):
        eps = self.pick(["", ", eps=1e-05", ", eps=0.001", ", eps=0.1"])
        return self.add(name, f"BatchNorm2d({self.shape[0]}{eps})", self.shape)

    def residual_block(self, index):
        c, h, w = self.shape
        block = f"layer{index}.0"
        skip = self.last
        out = self.pick([c, c, 2 * c, max(1, c // 2) + 1])
        stride = self.pick([1, 1, 2])
        oh, ow = out_size(h, 3, stride, 1, 1), out_size(w, 3, stride, 1, 1)
        self.add(f"{block}.conv1",
                 f"Conv2d({c}, {out}, kernel_size=3, stride={stride}, padding=1, bias=False)",
                 (out, oh, ow))
        self.batch_norm(f"{block}.bn1")
        self.add(f"{block}.relu", "ReLU()", self.shape)
        self.add(f"{block}.conv2", f"Conv2d({out}, {out}, kernel_size=3, padding=1, bias=False)",
                 (out, oh, ow))
        branch = self.batch_norm(f"{block}.bn2")
        if out != c or stride != 1:
            skip = self.add(f"{block}.downsample",
                            f"Conv2d({c}, {out}, kernel_size=1, stride={stride})", (out, oh, ow),
                            inputs=[skip])
        relu = self.pick(["True", "False"])
        # The skip first half the time: the inputs' order must not matter.
        inputs = [branch, skip] if self.rng.random() < 0.5 else [skip, branch]
        self.add(f"{block}.add", f"Add(relu={relu})", (out, oh, ow), inputs=inputs)

    def separable_block(self, index):
        c, h, w = self.shape
        block = f"ds{index}"
        stride = self.pick([1, 2])
        oh, ow = out_size(h, 3, stride, 1, 1), out_size(w, 3, stride, 1, 1)
        self.add(f"{block}.dw",
                 f"Conv2d({c}, {c}, kernel_size=3, stride={stride}, padding=1, groups={c}, "
                 "bias=False)", (c, oh, ow))
        self.batch_norm(f"{block}.bn1")
        self.activation()
        out = int(self.rng.integers(2, 13))
        self.add(f"{block}.pw", f"Conv2d({c}, {out}, kernel_size=1, bias=False)", (out, oh, ow))
        self.batch_norm(f"{block}.bn2")
        self.activation()


def make_chain(rng):
    b = Builder(rng, (int(rng.integers(1, 5)), int(rng.integers(5, 15)), int(rng.integers(5, 15))))
    b.chain_body(int(rng.integers(1, 7)))
    b.chain_head()
    return b.lines


def make_ending(rng):
    b = Builder(rng, (int(rng.integers(1, 5)), int(rng.integers(5, 13)), int(rng.integers(5, 13))))
    b.chain_body(int(rng.integers(1, 4)), quote_padding=False)
    ending = b.pick(["linear relu", "flatten relu", "flatten flatten", "flatten relu flatten"])
    for step in ending.split():
        {"linear": b.linear, "relu": b.relu, "flatten": b.flatten}[step]()
    return b.lines


def make_graph(rng):
    b = Builder(rng, (int(rng.integers(1, 4)), int(rng.integers(6, 15)), int(rng.integers(6, 15))))
    c = int(rng.integers(2, 9))
    b.add("stem", f"Conv2d({b.shape[0]}, {c}, kernel_size=3, padding=1)", (c,) + b.shape[1:])
    b.batch_norm("stem_bn")
    b.relu()
    for i in range(1, int(rng.integers(2, 4))):
        if rng.random() < 0.5:
            b.residual_block(i)
        else:
            b.separable_block(i)
    r = rng.random()
    if r < 0.5:
        b.add("gap", "AdaptiveAvgPool2d(1)", (b.shape[0], 1, 1))
        b.linear()
    elif r < 0.8:
        b.linear()
    # else: the last block's image is the output
    return b.lines


MAKERS = {"chain": make_chain, "endings": make_ending, "graph": make_graph}


def torch_outputs(spec, weights, x):
    outputs = {}
    for dtype in (torch.float32, torch.float64):
        model = spec_to_torch.build(spec, dtype)
        spec_to_torch.load_weights(model, weights)
        with torch.no_grad():
            outputs[dtype] = model(torch.from_numpy(x).to(dtype)).numpy()
    return outputs[torch.float64], outputs[torch.float32]


def check_model(lsuv, levels, workdir, label, lines, seed):
    spec_path = os.path.join(workdir, label + ".spec")
    with open(spec_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    spec = spec_to_torch.parse_spec("\n".join(lines))
    torch.manual_seed(seed)
    model = spec_to_torch.build(spec)
    spec_to_torch.randomize_batch_norms(model, torch.Generator().manual_seed(seed))
    weights = os.path.join(workdir, label + "-weights")
    spec_to_torch.save_weights(model, weights)

    rng = np.random.default_rng(seed)
    figures, float32_figures, ok = [], [], True
    for batch in (1, ODD_BATCH):
        x = rng.standard_normal((batch,) + spec.input_shape).astype(np.float32)
        x_path = os.path.join(workdir, f"{label}-x{batch}.npy")
        np.save(x_path, x)
        expected, float32 = torch_outputs(spec, weights, x)
        for level in levels:
            got, error = lsuv_program.forward(lsuv, level, spec_path, weights, x_path,
                                              os.path.join(workdir, f"{label}-y.npy"))
            where = f"{label} {level} batch {batch}"
            if got is None:
                print(f"{where}: lsuv forward failed: {error}")
                ok = False
                continue
            if got.shape != expected.shape:
                print(f"{where}: shape {got.shape}, PyTorch's {expected.shape}")
                ok = False
                continue
            relative, float32_relative, passed = lsuv_program.compare(got, expected, float32)
            figures.append(relative)
            float32_figures.append(float32_relative)
            if not passed:
                print(f"{where}: FAIL, error {relative:.2e} of max |output| "
                      f"(float32 PyTorch {float32_relative:.2e})")
                ok = False
    if not ok:
        print(f"--- {label} spec:\n" + "\n".join(lines))
    worst = max(figures, default=float("nan"))
    worst_float32 = max(float32_figures, default=float("nan"))
    print(f"{label}: {len(spec.ops)} ops, output {tuple(expected.shape[1:])}, worst {worst:.2e} "
          f"of max |output|, float32 PyTorch {worst_float32:.2e} ({'ok' if ok else 'FAIL'})")
    return ok, figures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("lsuv")
    parser.add_argument("--models", type=int, default=60, help="models per part")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--parts", default="chain")
    options = parser.parse_args()
    parts = options.parts.split(",")
    for part in parts:
        if part not in PARTS:
            parser.error(f"unknown part {part}; the parts are {', '.join(PARTS)}")
    torch.set_num_threads(1)

    levels, skipped = lsuv_program.available_levels(options.lsuv)
    print(f"kernel levels: {', '.join(levels)}"
          + (f"; skipped (not in this build or CPU): {', '.join(skipped)}" if skipped else ""))
    all_ok, all_figures, failed = True, [], []
    with tempfile.TemporaryDirectory() as workdir:
        for part_index, part in enumerate(parts):
            for i in range(options.models):
                seed = options.seed * 1000003 + PARTS.index(part) * 10007 + i
                lines = MAKERS[part](np.random.default_rng(seed))
                label = f"{part}{i:02d}"
                ok, figures = check_model(options.lsuv, levels, workdir, label, lines, seed)
                all_figures += figures
                if not ok:
                    failed.append(label)
                all_ok = all_ok and ok
    count = options.models * len(parts)
    print(f"{count} models ({', '.join(parts)}), levels {', '.join(levels)}, batches 1 and "
          f"{ODD_BATCH}: worst error {max(all_figures, default=float('nan')):.2e} of max |output|; "
          + ("all agree" if all_ok else f"{len(failed)} disagree: {', '.join(failed)}"))
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
