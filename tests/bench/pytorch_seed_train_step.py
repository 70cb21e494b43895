#!/usr/bin/python3
"""The seed's model in PyTorch, single-threaded: SGD training steps/s at a batch size (64 default).

One step is what lsuv's Trainer::train_step does: forward, softmax cross-entropy, backward, an SGD
update with momentum 0.9 (lr 0.05, as issue 9's recipe). Run with Debian's /usr/bin/python3
(python3-torch). Prints "pytorch train batch <n> <steps/s>", which `lsuv bench` parses to print
the ratio; medians over repeated timed runs, as the lsuv side measures.
"""
import os

# Before importing torch: Debian's torch otherwise lets OpenBLAS/OpenMP start more threads.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from pytorch_seed_model import seed_model  # noqa: E402


def steps_per_second(batch, samples=9, min_seconds=0.2):
    model = seed_model().train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(batch, 1, 28, 28)
    labels = torch.randint(0, 10, (batch,))

    def step():
        optimiser.zero_grad(set_to_none=True)
        loss_fn(model(x), labels).backward()
        optimiser.step()

    for _ in range(3):
        step()
    rates = []
    for _ in range(samples):
        calls = 0
        start = time.perf_counter()
        while True:
            step()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        rates.append(calls / elapsed)
    return statistics.median(rates)


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    batches = [int(a) for a in sys.argv[1:]] or [64]
    for batch in batches:
        print(f"pytorch train batch {batch} {steps_per_second(batch):.2f}", flush=True)


if __name__ == "__main__":
    main()
