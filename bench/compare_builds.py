#!/usr/bin/python3
"""Seconds per epoch of one preset with two forgery binaries (say, the last release's and the
working tree's), alternating runs on the same data: a regression check for changes that should
not cost speed.

    /usr/bin/python3 bench/compare_builds.py --a OLD/build/forgery --b build/forgery \\
        [--preset gan-mnist] [--epochs 2] [--rounds 3] [--tag NAME]

Every epoch after the first of every run is kept. Writes bench/results/compare_builds-TAG.json
and prints median, spread and the ratio b/a of the medians.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def epochs(binary, args, out):
    cmd = [binary, "train", args.preset, "--data", args.data, "--epochs", str(args.epochs), "--out", out, "--force",
           "--threads", str(args.threads), "--set", "progress=off", "--set", "final_samples=0"]
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line)["seconds"] for line in f][1:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="the baseline forgery binary")
    ap.add_argument("--b", required=True, help="the forgery binary to compare")
    ap.add_argument("--preset", default="gan-mnist")
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "datasets", "mnist"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tag", default="gan-mnist")
    args = ap.parse_args()
    args.data = os.path.abspath(args.data)
    r = {"a": [], "b": []}
    with tempfile.TemporaryDirectory() as work:
        for i in range(args.rounds):
            for arm in ("a", "b"):
                s = epochs(os.path.abspath(getattr(args, arm)), args, os.path.join(work, arm))
                r[arm] += s
                print(f"round {i + 1}: {arm} {', '.join(f'{x:.2f}' for x in s)} s/epoch", flush=True)
    summary = {arm: {"median": statistics.median(v), "min": min(v), "max": max(v), "all": v} for arm, v in r.items()}
    ratio = summary["b"]["median"] / summary["a"]["median"]
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", f"compare_builds-{args.tag}.json"), "w") as f:
        json.dump({"preset": args.preset, "epochs": args.epochs, "rounds": args.rounds, "threads": args.threads,
                   "a": args.a, "b": args.b, "seconds_per_epoch": summary, "b_over_a": ratio}, f, indent=2)
        f.write("\n")
    for arm in ("a", "b"):
        s = summary[arm]
        print(f"{arm}: {s['median']:.3f} s/epoch median ({s['min']:.3f}-{s['max']:.3f}), {getattr(args, arm)}")
    print(f"b/a: {ratio:.3f}")


if __name__ == "__main__":
    main()
