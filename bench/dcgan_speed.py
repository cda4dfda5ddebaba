#!/usr/bin/python3
"""Images per second of DCGAN training on the CPU: Forgery (build/bench/dcgan_step, the real
gan_step on the dcgan networks) against the same DCGAN and recipe in Python PyTorch
(bench/reference/dcgan.py), same machine and BLAS, alternating runs. Needs
`scripts/setup --dev` and a build.

    /usr/bin/python3 bench/dcgan_speed.py [--sizes 64,32] [--steps 20] [--rounds 3]

Writes bench/results/dcgan_speed.json and prints a Markdown table for docs/performance.md.
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runs import run_quiet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    return json.loads([line for line in run_quiet(cmd).splitlines() if line.startswith("{")][-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "datasets", "mnist"))
    ap.add_argument("--sizes", default="64,32")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    data = os.path.abspath(args.data)
    results = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        arms = {
            "forgery": [os.path.join(ROOT, "build", "bench", "dcgan_step"), "--size", str(size), "--steps",
                        str(args.steps), "--threads", "2", "--batch", str(args.batch)],
            "python_as_shipped": ["/usr/bin/python3", os.path.join(ROOT, "bench", "reference", "dcgan.py"), "--data", data,
                                  "--size", str(size), "--steps", str(args.steps), "--batch", str(args.batch)],
            "python_2_threads": ["/usr/bin/python3", os.path.join(ROOT, "bench", "reference", "dcgan.py"), "--data", data,
                                 "--size", str(size), "--steps", str(args.steps), "--threads", "2",
                                 "--batch", str(args.batch)],
        }
        r = {k: [] for k in arms}
        threads = {}
        for i in range(args.rounds):
            for name, cmd in arms.items():
                out = run(cmd)
                r[name].append(out["images_per_sec"])
                threads[name] = out["threads"]
                print(f"size {size} round {i + 1}: {name} {out['images_per_sec']:.1f} img/s ({out['threads']} threads)",
                      flush=True)
        results[str(size)] = {k: {"median": statistics.median(v), "min": min(v), "max": max(v), "all": v,
                                  "threads": threads[k]} for k, v in r.items()}
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "dcgan_speed.json"), "w") as f:
        json.dump({"steps": args.steps, "rounds": args.rounds, "batch": args.batch, "results": results}, f, indent=2)
        f.write("\n")
    print("\n| size | program | threads | images/s, median (min–max) | Forgery's ratio |")
    print("|---|---|---|---|---|")
    for size, res in results.items():
        f = res["forgery"]["median"]
        for name, s in res.items():
            print(f"| {size} | {name} | {s['threads']} | {s['median']:.1f} ({s['min']:.1f}–{s['max']:.1f}) | "
                  f"{f / s['median']:.2f}x |")


if __name__ == "__main__":
    main()
