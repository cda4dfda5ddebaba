#!/usr/bin/python3
"""Seconds per epoch of gan-mnist on the CPU: Forgery against the chapter's Python program
(bench/reference/gan_mnist.py) on the same machine and BLAS, in alternating runs, with the
compute floor measured by build/bench/gan_floor. Needs `scripts/setup --dev` and a build.

    /usr/bin/python3 bench/cpu_epoch.py [--data ../shared/datasets/mnist] [--epochs 2] [--rounds 3]

Writes bench/results/cpu_epoch.json and prints a Markdown table for docs/performance.md.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                       env={**os.environ, **(env or {})})
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    return p.stdout, time.perf_counter() - t0


def forgery_epochs(args, out, precision="fp32"):
    cmd = [os.path.join(ROOT, "build", "forgery"), "train", "gan-mnist", "--data", args.data, "--epochs",
           str(args.epochs), "--out", out, "--force", "--threads", "2", "--set", "progress=off",
           "--set", "final_samples=0", "--set", f"precision={precision}"]
    _, wall = run(cmd)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line)["seconds"] for line in f], wall


def python_epochs(args, out, threads):
    cmd = ["/usr/bin/python3", os.path.join(ROOT, "bench", "reference", "gan_mnist.py"), "--data", args.data,
           "--epochs", str(args.epochs), "--out", out, "--threads", str(threads)]
    stdout, wall = run(cmd)
    rows = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [r["seconds"] for r in rows if "epoch" in r], wall


def summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs), "all": xs}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "datasets", "mnist"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    args.data = os.path.abspath(args.data)
    floor = json.loads(run([os.path.join(ROOT, "build", "bench", "gan_floor"), "--threads", "2"])[0])
    floor_bf16 = json.loads(run([os.path.join(ROOT, "build", "bench", "gan_floor"), "--threads", "2",
                                 "--dtype", "bf16"])[0])
    results = {"forgery": [], "forgery_bf16": [], "python_as_shipped": [], "python_2_threads": []}
    walls = {k: [] for k in results}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):  # alternate, so that drift hits all alike
            for name, fn in (("forgery", lambda o: forgery_epochs(args, o)),
                             ("forgery_bf16", lambda o: forgery_epochs(args, o, "bf16")),
                             ("python_as_shipped", lambda o: python_epochs(args, o, 0)),
                             ("python_2_threads", lambda o: python_epochs(args, o, 2))):
                secs, wall = fn(os.path.join(tmp, f"{name}-{r}"))
                results[name] += secs
                walls[name].append(wall)
                print(f"round {r + 1} {name}: {', '.join(f'{s:.2f}' for s in secs)} s/epoch", flush=True)
    blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    report = {
        "machine": {"cpu": cpu, "cores": os.cpu_count(), "blas": blas, "kernel": platform.release()},
        "epochs_per_run": args.epochs, "rounds": args.rounds,
        "seconds_per_epoch": {k: summary(v) for k, v in results.items()},
        "process_wall_seconds": {k: summary(v) for k, v in walls.items()},
        "floor": floor,
        "floor_bf16": floor_bf16,
    }
    f = report["seconds_per_epoch"]["forgery"]["median"]
    report["ratios"] = {
        "python_as_shipped_over_forgery": report["seconds_per_epoch"]["python_as_shipped"]["median"] / f,
        "python_2_threads_over_forgery": report["seconds_per_epoch"]["python_2_threads"]["median"] / f,
        "forgery_over_floor": f / floor["epoch_floor_seconds"],
        "python_as_shipped_over_forgery_bf16": report["seconds_per_epoch"]["python_as_shipped"]["median"] /
        report["seconds_per_epoch"]["forgery_bf16"]["median"],
        "forgery_bf16_over_bf16_floor": report["seconds_per_epoch"]["forgery_bf16"]["median"] /
        floor_bf16["epoch_floor_seconds"],
    }
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "cpu_epoch.json"), "w") as out:
        json.dump(report, out, indent=2)
        out.write("\n")
    print()
    print("| program | median s/epoch | min-max | images/s |")
    print("|---|---|---|---|")
    for k, v in report["seconds_per_epoch"].items():
        print(f"| {k} | {v['median']:.2f} | {v['min']:.2f}-{v['max']:.2f} | {60000 / v['median']:.0f} |")
    print(f"| floor (GEMMs only) | {floor['epoch_floor_seconds']:.2f} | | {60000 / floor['epoch_floor_seconds']:.0f} |")
    print(f"| floor, bf16 (GEMMs only) | {floor_bf16['epoch_floor_seconds']:.2f} | | "
          f"{60000 / floor_bf16['epoch_floor_seconds']:.0f} |")
    print()
    for k, v in report["ratios"].items():
        print(f"{k}: {v:.2f}")


if __name__ == "__main__":
    main()
