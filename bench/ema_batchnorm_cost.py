#!/usr/bin/python3
"""What recomputing the generator average's BatchNorm statistics (ema_batchnorm recompute) costs
a DCGAN run: dcgan-mnist (64x64, batch 128) on generated MNIST-format data, --epochs epochs a
run, three arms alternating --rounds times: no average, `ema_kimg=10` with recomputed
statistics (the default) and with the trained network's (`ema_batchnorm=trained`). From each
run's closing `time:` line: seconds in the steps and at the epochs' ends (picture, checkpoint);
the recomputation happens at the epoch ends. Writes bench/results/ema_batchnorm_cost.json and
prints a Markdown table.

    /usr/bin/python3 bench/ema_batchnorm_cost.py [--images 1024] [--epochs 2] [--rounds 3] [--threads 2]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kill_soak import write_fake_mnist  # noqa: E402
from runs import ROOT, save_result  # noqa: E402

FORGERY = os.environ.get("FORGERY_BIN", os.path.join(ROOT, "build", "forgery"))
ARMS = {"no average": [], "average, recompute": ["ema_kimg=10"],
        "average, trained": ["ema_kimg=10", "ema_batchnorm=trained"]}


def run(args, data, out, sets):
    cmd = [FORGERY, "train", "dcgan-mnist", "--data", data, "--epochs", str(args.epochs), "--out", out, "--force",
           "--threads", str(args.threads), "--set", "progress=off", "--set", "final_samples=0"]
    for s in sets:
        cmd += ["--set", s]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    m = re.search(r"([\d.]+) s in the steps, ([\d.]+) s at the epochs' ends", p.stdout)
    if not m:
        raise SystemExit(f"no time line in the output of {' '.join(cmd)}")
    return float(m.group(1)), float(m.group(2))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ema-bn-cost-")
    data = os.path.join(work, "mnist")
    write_fake_mnist(data, args.images, 32)
    runs = {name: {"steps": [], "ends": []} for name in ARMS}
    for r in range(args.rounds):
        for name, sets in ARMS.items():
            steps, ends = run(args, data, os.path.join(work, "run"), sets)
            runs[name]["steps"].append(steps)
            runs[name]["ends"].append(ends)
            print(f"round {r + 1} {name}: steps {steps:.1f} s, epoch ends {ends:.2f} s", flush=True)
    result = {"what": "dcgan-mnist 64x64 on generated data: seconds in the steps and at the epochs' ends per run",
              "images": args.images, "epochs": args.epochs, "threads": args.threads, "runs": runs}
    path = save_result("ema_batchnorm_cost.json", result)
    print(f"| arm | steps, s (median, min-max) | epoch ends, s (median, min-max) | per epoch end |  ({path})")
    print("|---|---|---|---|")
    for name, r in runs.items():
        st, en = r["steps"], r["ends"]
        print(f"| {name} | {statistics.median(st):.1f} ({min(st):.1f}-{max(st):.1f}) | "
              f"{statistics.median(en):.2f} ({min(en):.2f}-{max(en):.2f}) | {statistics.median(en) / args.epochs:.2f} |")


if __name__ == "__main__":
    main()
