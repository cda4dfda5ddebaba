#!/usr/bin/python3
"""Data-parallel training on this machine: seconds per epoch of one process against `--nproc N`
worker processes (Gloo over 127.0.0.1), with the share of each epoch rank 0 spent in
collectives (gradient all-reduce and waiting for the other ranks), in alternating runs.

    /usr/bin/python3 bench/dist_speed.py [--model gan-mnist|pix2pix] [--epochs 2] [--rounds 3]
        [--device cpu|cuda] [--forgery BINARY]

gan-mnist trains on ../shared/datasets/mnist (batch 512); pix2pix on facades at 128x128 with a
global batch of 2 (one image per rank with two ranks). The same global batch in every
configuration, so every configuration does the same work per epoch. Writes
bench/results/dist_speed-MODEL-DEVICE.json and prints a Markdown table.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "datasets")


def train(args, out, nproc, threads):
    if args.model == "gan-mnist":
        cmd = ["train", "gan-mnist", "--data", args.data or os.path.join(DATA, "mnist"), "--set", "final_samples=0"]
    else:
        cmd = ["train", "pix2pix-facades-128", "--data", args.data or os.path.join(DATA, "facades"),
               "--set", "batch_size=2"]
    cmd = [args.forgery] + cmd + [
        "--epochs", str(args.epochs), "--out", out, "--force", "--set", "progress=off",
        "--set", f"threads={threads}", "--device", args.device]
    if nproc > 1:
        cmd += ["--nproc", str(nproc)]
    # The default OpenMP wait policy, as a user runs it (bench/runs.py's passive waiting slows
    # a GEMM-bound loop on several threads).
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    with open(os.path.join(out, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    # The first epoch includes warm-up (allocations, thread pools): the later ones are timed.
    timed = rows[1:] if len(rows) > 1 else rows
    return [r["seconds"] for r in timed], [r.get("collective_seconds", 0) / r["seconds"] for r in timed]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="gan-mnist", choices=["gan-mnist", "pix2pix"])
    ap.add_argument("--data", default=None)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--forgery", default=os.path.join(ROOT, "build", "forgery"), help="the binary (build-gpu/forgery on a GPU machine)")
    args = ap.parse_args()
    cores = os.cpu_count() or 2
    per_rank = max(1, cores // args.nproc)
    configs = [("1 process, %d threads" % cores, 1, cores),
               ("1 process, %d thread(s)" % per_rank, 1, per_rank),
               ("%d processes, %d thread(s) each" % (args.nproc, per_rank), args.nproc, per_rank)]
    if args.device != "cpu":
        configs = [("1 process", 1, per_rank), ("%d processes on one device" % args.nproc, args.nproc, per_rank)]
    results = {name: {"seconds": [], "collective_share": []} for name, _, _ in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for name, nproc, threads in configs:
                secs, share = train(args, os.path.join(tmp, "run"), nproc, threads)
                results[name]["seconds"] += secs
                results[name]["collective_share"] += share
    base = statistics.median(results[configs[0][0]]["seconds"])
    print(f"| {args.model} on {args.device}, {args.epochs - 1} timed epoch(s) x {args.rounds} rounds | s/epoch (median) "
          f"| range | vs first row | in collectives (rank 0) |")
    print("|---|---|---|---|---|")
    for name, _, _ in configs:
        s = results[name]["seconds"]
        c = results[name]["collective_share"]
        print(f"| {name} | {statistics.median(s):.2f} | {min(s):.2f}-{max(s):.2f} | "
              f"{base / statistics.median(s):.2f}x | {100 * statistics.median(c):.1f}% |")
    out = os.path.join(ROOT, "bench", "results", f"dist_speed-{args.model}-{args.device}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"machine": platform.processor() or platform.machine(), "cores": cores, "epochs": args.epochs,
                   "rounds": args.rounds, "results": results}, f, indent=1)
    print("wrote", out)


if __name__ == "__main__":
    main()
