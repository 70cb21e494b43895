#!/usr/bin/python3
"""The seed's model in PyTorch, single-threaded: images/s of the forward pass at batch 1 and 64.

Run with Debian's /usr/bin/python3 (python3-torch). Prints one line per batch size,
"pytorch batch <n> <images/s>", which the lsuv benchmarks parse to print ratios. Medians over
repeated timed runs, as the lsuv side measures.
"""
import os

# Before importing torch: Debian's torch otherwise lets OpenBLAS/OpenMP start more threads.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402


def seed_model():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 5, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, padding=2), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, padding=2), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 32, 3, padding=2), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 10))


def images_per_second(model, batch, samples=9, min_seconds=0.05):
    x = torch.randn(batch, 1, 28, 28)
    with torch.no_grad():
        model(x)
        rates = []
        for _ in range(samples):
            calls = 0
            start = time.perf_counter()
            while True:
                model(x)
                calls += 1
                elapsed = time.perf_counter() - start
                if elapsed >= min_seconds:
                    break
            rates.append(batch * calls / elapsed)
    return statistics.median(rates)


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = seed_model().eval()
    batches = [int(a) for a in sys.argv[1:]] or [1, 64]
    for batch in batches:
        print(f"pytorch batch {batch} {images_per_second(model, batch):.1f}", flush=True)


if __name__ == "__main__":
    main()
