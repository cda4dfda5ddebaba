#!/usr/bin/python3
"""What an epoch's end costs the training thread, with the files written on a background
thread (`async_writes = true`, the default) or before training goes on (false).

    /usr/bin/python3 bench/async_writes.py [--images 6144] [--epochs 20] [--rounds 3] [--device cpu|cuda]
        [--data MNIST_DIR] [--forgery BINARY]

gan-mnist on the first --images images of ../shared/datasets/mnist (batch 512: 12 steps an
epoch), so that an epoch's computation is of the order of its files (picture, loss plot, a
36 MB checkpoint with fsync, both networks' weights, report.html), as a whole MNIST epoch is on
a GPU. Both arms alternate, --rounds times each. For each run: the wall time of the process,
the time inside the epochs (metrics.jsonl's seconds) and the rest (start-up, the epoch ends and
the end of the run); what differs between the arms is the epoch ends. Writes
bench/results/async_writes-DEVICE.json and prints a Markdown table.
"""
import argparse
import gzip
import json
import os
import platform
import statistics
import struct
import subprocess
import tempfile
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runs import save_result  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORGERY = os.path.join(ROOT, "build", "forgery")
MNIST = os.path.join(ROOT, "..", "shared", "datasets", "mnist")


def subset(src, dst, n):
    """The first n training images and labels of an MNIST folder (the test split as it is)."""
    os.makedirs(dst, exist_ok=True)
    with gzip.open(os.path.join(src, "train-images-idx3-ubyte.gz")) as f:
        magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
        n = min(n, count)
        images = f.read(n * rows * cols)
    with gzip.open(os.path.join(src, "train-labels-idx1-ubyte.gz")) as f:
        f.read(8)
        labels = f.read(n)
    with gzip.open(os.path.join(dst, "train-images-idx3-ubyte.gz"), "wb", compresslevel=1) as f:
        f.write(struct.pack(">IIII", magic, n, rows, cols) + images)
    with gzip.open(os.path.join(dst, "train-labels-idx1-ubyte.gz"), "wb", compresslevel=1) as f:
        f.write(struct.pack(">II", 2049, n) + labels)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        target = os.path.join(dst, name)
        if not os.path.exists(target):
            os.symlink(os.path.abspath(os.path.join(src, name)), target)


def run(args, data, out, async_writes):
    cmd = [args.forgery, "train", "gan-mnist", "--data", data, "--out", out, "--force", "--epochs", str(args.epochs),
           "--device", args.device, "--set", "progress=off", "--set", f"async_writes={'true' if async_writes else 'false'}"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    with open(os.path.join(out, "metrics.jsonl")) as f:
        inside = sum(json.loads(line)["seconds"] for line in f if line.strip())
    return {"wall": wall, "inside": inside, "outside": wall - inside}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=6144)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data", default=MNIST)
    ap.add_argument("--forgery", default=FORGERY, help="the binary (default build/forgery)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="async-writes-")
    data = os.path.join(work, "data")
    subset(args.data, data, args.images)
    arms = {"async_writes = true": True, "async_writes = false": False}
    runs = {name: [] for name in arms}
    for r in range(args.rounds):
        for name, flag in arms.items():
            runs[name].append(run(args, data, os.path.join(work, "run"), flag))
            print(f"round {r + 1} {name}: " + ", ".join(f"{k} {v:.2f} s" for k, v in runs[name][-1].items()), flush=True)
    summary = {name: {k: {"median": statistics.median(x[k] for x in v), "min": min(x[k] for x in v),
                          "max": max(x[k] for x in v)} for k in ("wall", "inside", "outside")}
               for name, v in runs.items()}
    result = {"machine": platform.processor() or platform.machine(), "device": args.device, "images": args.images,
              "epochs": args.epochs, "rounds": args.rounds, "runs": runs, "summary": summary}
    save_result(f"async_writes-{args.device}.json", result)
    print(f"\ngan-mnist, {args.images} images, {args.epochs} epochs, {args.device}; median (min-max) of {args.rounds} runs")
    print("\n| arm | wall s | inside the epochs s | outside s | outside per epoch s |")
    print("|---|---|---|---|---|")
    for name, s in summary.items():
        cells = [f"{s[k]['median']:.2f} ({s[k]['min']:.2f}-{s[k]['max']:.2f})" for k in ("wall", "inside", "outside")]
        print(f"| {name} | " + " | ".join(cells) + f" | {s['outside']['median'] / args.epochs:.3f} |")


if __name__ == "__main__":
    main()
