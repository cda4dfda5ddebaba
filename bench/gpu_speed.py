#!/usr/bin/env python3
"""Training speed on a GPU, Forgery against the Python programs in the same run, each arm
alternating with the others (--rounds times). Made for scripts/gpu-check (one call on a lent
GPU machine: PyTorch 2.x wheel, the build in build-gpu/); runs wherever CUDA and a CUDA build are.

    python3 bench/gpu_speed.py --data MNIST_DIR [--forgery build-gpu/forgery]
        [--bench build-gpu/bench] [--epochs 20] [--rounds 2] [--steps 40] [--only gan,dcgan]

gan-mnist (the chapter's GAN, batch 512, 118 steps an epoch): seconds per epoch inside the
epochs (metrics.jsonl: until the GPU has done the epoch's steps, as the Python program measures
its own) and the process's wall time, for
  - forgery with CUDA graphs (the default on CUDA), fp32 and tf32;
  - forgery stepping eagerly (cuda_graphs=off), fp32;
  - the chapter's Python program (bench/reference/gan_mnist.py; its first epoch, which carries
    CUDA's start-up, is left out of its per-epoch figure).
DCGAN 64x64 (batch 128; build-gpu/bench/dcgan_step and bench/reference/dcgan.py on random or
MNIST batches): images per second for
  - Python eager, strict fp32 (TF32 off) and as PyTorch ships (TF32 convolutions);
  - forgery eager fp32 contiguous (the like-for-like arm);
  - forgery with graphs and channels-last (the trainer's defaults on CUDA) in fp32, tf32, bf16.
pix2pix (unet_256) and CycleGAN (resnet_9blocks) at 256x256, batch 1, random images: iterations
per second of the Python references' networks and steps (bench/step_profile.py --speed) and of
build-gpu/bench/pix2pix_step, cyclegan_step with the same arms (CUDA graphs; CycleGAN also
contiguous, its trainer default on CUDA).
"fp32" means TF32 off for both cuBLAS and cuDNN; "tf32" means on for both.

Writes bench/results/gpu_speed.json and prints Markdown tables for docs/performance.md.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runs import ROOT, run_quiet, save_result  # noqa: E402


def last_json(text):
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


def gpu_name():
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                              text=True).stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


def forgery_epochs(args, work, name, sets):
    out = os.path.join(work, name)
    t0 = time.perf_counter()
    text = run_quiet([args.forgery, "train", "gan-mnist", "--device", "cuda", "--data", args.data, "--out", out,
                      "--epochs", str(args.epochs), "--force", "--set", "progress=off"] +
                     [a for s in sets for a in ("--set", s)])
    wall = time.perf_counter() - t0
    with open(os.path.join(out, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    per_epoch = [r["seconds"] for r in rows]
    graphs = [line for line in text.splitlines() if line.startswith("CUDA graphs:")]
    # The run's own account: before the first step, in the steps (until the GPU has done them),
    # at the epochs' ends, the final files.
    time_line = [line for line in text.splitlines() if line.startswith("time:")]
    return {"wall": wall, "in_epochs": sum(per_epoch), "epoch_median": statistics.median(per_epoch[1:] or per_epoch),
            "graphs": graphs[0] if graphs else "", "time": time_line[0] if time_line else ""}


def python_epochs(args, work):
    out = os.path.join(work, "python")
    t0 = time.perf_counter()
    text = run_quiet([sys.executable, os.path.join(ROOT, "bench", "reference", "gan_mnist.py"), "--data", args.data,
                      "--out", out, "--epochs", str(args.python_epochs), "--seed", "0"])
    wall = time.perf_counter() - t0
    rows = [json.loads(line) for line in text.splitlines() if line.startswith('{"epoch"')]
    per_epoch = [r["seconds"] for r in rows]
    return {"wall": wall, "in_epochs": sum(per_epoch), "epoch_median": statistics.median(per_epoch[1:] or per_epoch)}


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "all": values}


def gan(args, work):
    arms = {
        "forgery graphs fp32": lambda: forgery_epochs(args, work, "graphs-fp32", ["cuda_graphs=on"]),
        "forgery graphs tf32": lambda: forgery_epochs(args, work, "graphs-tf32", ["cuda_graphs=on", "precision=tf32"]),
        "forgery eager fp32": lambda: forgery_epochs(args, work, "eager-fp32", ["cuda_graphs=off"]),
        "python (chapter program)": lambda: python_epochs(args, work),
    }
    got = {k: [] for k in arms}
    for i in range(args.rounds):
        for name, fn in arms.items():
            try:
                r = fn()
            except (SystemExit, Exception) as e:  # one arm failing (a missing torchvision) leaves the others
                print(f"gan-mnist {name}: {e}", flush=True)
                continue
            got[name].append(r)
            print(f"gan-mnist round {i + 1}: {name}: {r['epoch_median']:.3f} s/epoch, wall {r['wall']:.1f} s "
                  f"{r.get('graphs', '')}", flush=True)
    out = {}
    for name, runs in got.items():
        if runs:
            out[name] = {"epoch_seconds": summary([r["epoch_median"] for r in runs]),
                         "wall": summary([r["wall"] for r in runs]), "graphs": runs[-1].get("graphs", ""),
                         "time": [r.get("time", "") for r in runs]}
    return out


def alternate(args, title, arms, key):
    """Runs each arm's command --rounds times, alternating; the median and range of `key`."""
    if args.arms:  # only the arms whose names hold one of these words
        arms = {k: v for k, v in arms.items() if any(w in k for w in args.arms.split(","))}
    got = {k: [] for k in arms}
    for i in range(args.rounds):
        for name, cmd in arms.items():
            try:
                r = last_json(run_quiet(cmd))
            except (SystemExit, Exception) as e:
                print(f"{title} {name}: {e}", flush=True)
                continue
            got[name].append(r[key])
            print(f"{title} round {i + 1}: {name}: {r[key]:.2f} {key}", flush=True)
    return {k: summary(v) for k, v in got.items() if v}


def dcgan(args):
    step = os.path.join(args.bench, "dcgan_step")
    ref = os.path.join(ROOT, "bench", "reference", "dcgan.py")
    common = ["--size", "64", "--batch", "128", "--steps", str(args.steps), "--device", "cuda"]
    arms = {
        "python eager fp32": [sys.executable, ref, "--data", args.data, "--tf32", "off"] + common,
        "python eager as shipped (TF32 convolutions)": [sys.executable, ref, "--data", args.data] + common,
        "forgery eager fp32": [step, "--precision", "fp32"] + common,
        "forgery graphs channels-last fp32": [step, "--precision", "fp32", "--channels-last", "1", "--graphs", "1"] + common,
        "forgery graphs channels-last tf32": [step, "--precision", "tf32", "--channels-last", "1", "--graphs", "1"] + common,
        "forgery graphs channels-last bf16": [step, "--precision", "bf16", "--channels-last", "1", "--graphs", "1"] + common,
    }
    return alternate(args, "dcgan", arms, "images_per_sec")


def image_to_image(args, model):
    """pix2pix (unet_256) or CycleGAN (resnet_9blocks) at 256x256, batch 1, random images: the
    Python reference's networks and step (bench/step_profile.py --speed) against Forgery's."""
    step = os.path.join(args.bench, f"{model}_step")
    ref = [sys.executable, os.path.join(ROOT, "bench", "step_profile.py"), "--model", model, "--size", "256",
           "--device", "cuda", "--speed", str(args.image_steps)]
    common = ["--size", "256", "--steps", str(args.image_steps), "--device", "cuda"]
    arms = {
        "python eager fp32": ref + ["--tf32", "off"],
        "python eager as shipped (TF32 convolutions)": ref,
        "forgery eager fp32": [step, "--precision", "fp32"] + common,
    }
    # CUDA graphs for both (CycleGAN's pools draw before the step); channels-last where the
    # trainer's memory_format auto has it (pix2pix; CycleGAN stays contiguous), both for CycleGAN.
    for precision in ("fp32", "tf32", "bf16"):
        arms[f"forgery graphs channels-last {precision}"] = [step, "--precision", precision, "--channels-last", "1",
                                                             "--graphs", "1"] + common
        if model == "cyclegan":
            arms[f"forgery graphs contiguous {precision}"] = [step, "--precision", precision, "--graphs", "1"] + common
    return alternate(args, model, arms, "iterations_per_sec")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="folder with the MNIST .gz files")
    ap.add_argument("--forgery", default=os.path.join(ROOT, "build-gpu", "forgery"))
    ap.add_argument("--bench", default=os.path.join(ROOT, "build-gpu", "bench"))
    ap.add_argument("--epochs", type=int, default=20, help="gan-mnist epochs per Forgery run")
    ap.add_argument("--python-epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40, help="DCGAN steps timed per run")
    ap.add_argument("--image-steps", type=int, default=30, help="pix2pix and CycleGAN iterations timed per run")
    ap.add_argument("--image-rounds", type=int, help="rounds for pix2pix and CycleGAN (default: --rounds)")
    ap.add_argument("--only", default="gan,dcgan,pix2pix,cyclegan")
    ap.add_argument("--arms", help="DCGAN, pix2pix and CycleGAN arms whose names hold one of these comma-separated "
                                   "words (default: all)")
    args = ap.parse_args()
    args.data = os.path.abspath(args.data)
    parts = args.only.split(",")
    result = {"machine": platform.node(), "gpu": gpu_name(), "rounds": args.rounds, "epochs": args.epochs}
    # Written after every part, so that a run stopped by a time limit keeps what it measured.
    with tempfile.TemporaryDirectory(prefix="forgery-gpu-speed-") as work:
        if "gan" in parts:
            result["gan_mnist"] = gan(args, work)
            save_result("gpu_speed.json", result)
        if "dcgan" in parts:
            result["dcgan64"] = dcgan(args)
            save_result("gpu_speed.json", result)
        rounds = args.rounds
        args.rounds = args.image_rounds or rounds
        for model in ("pix2pix", "cyclegan"):
            if model in parts:
                result[f"{model}256"] = image_to_image(args, model)
                save_result("gpu_speed.json", result)
        args.rounds = rounds
    path = save_result("gpu_speed.json", result)
    print(f"\nwritten: {path}\n")
    if "gan_mnist" in result:
        py = result["gan_mnist"].get("python (chapter program)", {}).get("epoch_seconds", {}).get("median")
        print(f"gan-mnist on {result['gpu']}, {args.epochs} epochs per Forgery run, median of {args.rounds} runs\n")
        print("| arm | s/epoch (median, range) | wall s | vs Python | graphs |\n|---|---|---|---|---|")
        for name, r in result["gan_mnist"].items():
            e = r["epoch_seconds"]
            ratio = f"{py / e['median']:.1f}x" if py else "-"
            print(f"| {name} | {e['median']:.3f} ({e['min']:.3f}-{e['max']:.3f}) | {r['wall']['median']:.1f} | "
                  f"{ratio} | {r['graphs']} |")
    titles = {"dcgan64": f"DCGAN 64x64, batch 128, {args.steps} steps per run: images/s",
              "pix2pix256": f"pix2pix unet_256 + PatchGAN, 256x256, batch 1, {args.image_steps} steps per run: iterations/s",
              "cyclegan256": f"CycleGAN resnet_9blocks + PatchGANs, 256x256, batch 1, {args.image_steps} steps per run: "
                             "iterations/s"}
    for part, title in titles.items():
        if part not in result:
            continue
        base = result[part].get("python eager fp32", {}).get("median")
        n = args.rounds if part == "dcgan64" else (args.image_rounds or args.rounds)
        print(f"\n{title}, median of {n}\n")
        print("| arm | median (range) | vs Python eager fp32 |\n|---|---|---|")
        for name, r in result[part].items():
            ratio = f"{r['median'] / base:.2f}x" if base else "-"
            print(f"| {name} | {r['median']:.1f} ({r['min']:.1f}-{r['max']:.1f}) | {ratio} |")


if __name__ == "__main__":
    main()
