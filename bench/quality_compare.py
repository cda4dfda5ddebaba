#!/usr/bin/python3
"""The seed's GAN trained by Forgery and by the chapter's Python program, evaluated by the same
evaluator (Forgery's MNIST classifier features): FID, KID, precision/recall, IS, classes
covered, for several epoch counts and seeds. Needs `scripts/setup --dev` and a build.

    /usr/bin/python3 bench/quality_compare.py [--data ../shared/datasets/mnist] [--epochs 1,5] [--seeds 0,1,2]
        [--threads 2] [--arm NAME:KEY=VALUE[,KEY=VALUE...]]...

Each --arm adds a Forgery variant trained with those --set options (e.g.
`--arm forgery-torch:dropout_kernel=torch`), beside the default arms `forgery` and `python`.

Both sides write 10,000 samples as 8-bit IDX files (the same rounding), evaluated with
`forgery eval --real t10k --fake FILE`. Writes bench/results/quality[-TAG].json, grids of 64 samples
(seed 0) to docs/images/quality/, and prints the table for docs/quality.md.
"""
import argparse
import contextlib
import json
import os
import statistics
import subprocess
import tempfile

import torch
import torchvision.utils as vutils

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORGERY = os.environ.get("FORGERY_BIN", os.path.join(ROOT, "build", "forgery"))
KEYS = ["fid", "kid_mean", "precision", "recall", "is_mean", "classes_covered"]


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return p.stdout


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    n, h, w = (int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    return torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8).view(n, 1, h, w)


def grid(idx_path, png_path):
    images = read_idx(idx_path)[:64].float() / 255
    vutils.save_image(vutils.make_grid(images, nrow=8, padding=2), png_path)


def train_and_evaluate(args, arms, seeds, epochs, last, data, real, images_dir, tmp, rows):
    for seed in seeds:
        for arm, sets in arms.items():
            fdir = os.path.join(tmp, f"{arm}-{seed}")
            cmd = [FORGERY, "train", "gan-mnist", "--data", data, "--epochs", str(last), "--out", fdir,
                   "--threads", str(args.threads), "--set", f"seed={seed}", "--set", "checkpoint_every=1",
                   "--set", "progress=off", "--set", "final_samples=0"]
            for kv in sets:
                cmd += ["--set", kv]
            run(cmd)
        pdir = os.path.join(tmp, f"python-{seed}")
        if not args.no_python:
            run(["/usr/bin/python3", os.path.join(ROOT, "bench", "reference", "gan_mnist.py"), "--data", data,
                 "--epochs", str(last), "--out", pdir, "--threads", str(args.threads), "--seed", str(seed),
                 "--sample-epochs", args.epochs, "--samples", str(args.n)])
        for e in epochs:
            sets = []
            for arm in arms:
                idx = os.path.join(tmp, f"{arm}-{seed}-{e}.idx")
                run([FORGERY, "sample", os.path.join(tmp, f"{arm}-{seed}", "checkpoints", f"epoch_{e:04d}.pt"),
                     "--n", str(args.n), "--seed", str(1000 + seed), "--idx", idx])
                sets.append((arm, idx))
            if not args.no_python:
                sets.append(("python", os.path.join(pdir, f"samples_epoch{e}.idx")))
            for prog, idx in sets:
                report = os.path.join(tmp, f"{prog}-{seed}-{e}.json")
                run([FORGERY, "eval", "--real", real, "--fake", idx, "--data", data, "--out", report])
                with open(report) as f:
                    rows.setdefault((prog, e), []).append(json.load(f)["metrics"])
                if seed == seeds[0]:
                    grid(idx, os.path.join(images_dir, f"{args.tag + '-' if args.tag else ''}{prog}-epoch{e}.png"))
            print(f"seed {seed} epoch {e}: " + "; ".join(
                f"{p} fid {rows[(p, e)][-1]['fid']:.2f}" for p, _ in sets), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "datasets", "mnist"))
    ap.add_argument("--epochs", default="1,5")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--tag", default="", help="results go to bench/results/quality-TAG.json")
    ap.add_argument("--threads", type=int, default=2, help="threads for every training run")
    ap.add_argument("--work", help="keep runs and reports in this folder (default: a temporary one)")
    ap.add_argument("--summarize", action="store_true",
                    help="train nothing: summarise the reports already in --work (e.g. after an interrupted run)")
    ap.add_argument("--no-python", action="store_true", help="only the Forgery arms (e.g. fp32 against bf16)")
    ap.add_argument("--arm", action="append", default=[],
                    help="extra Forgery arm NAME:KEY=VALUE[,KEY=VALUE...] (options passed with --set)")
    args = ap.parse_args()
    arms = {"forgery": []}
    for spec in args.arm:
        name, _, sets = spec.partition(":")
        if not name or name in ("forgery", "python") or name in arms:
            raise SystemExit(f"--arm {spec!r}: needs a new name before ':'")
        arms[name] = [kv for kv in sets.split(",") if kv]
    data = os.path.abspath(args.data)
    epochs = [int(e) for e in args.epochs.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    last = max(epochs)
    real = os.path.join(data, "t10k-images-idx3-ubyte.gz")
    images_dir = os.path.join(ROOT, "docs", "images", "quality")
    os.makedirs(images_dir, exist_ok=True)
    rows = {}
    if args.summarize:
        if not args.work:
            raise SystemExit("--summarize needs --work DIR")
        for seed in seeds:
            for e in epochs:
                for prog in list(arms) + ["python"]:
                    report = os.path.join(args.work, f"{prog}-{seed}-{e}.json")
                    if os.path.exists(report):
                        with open(report) as f:
                            rows.setdefault((prog, e), []).append(json.load(f)["metrics"])
        done = "forgery" if args.no_python else "python"
        seeds = sorted({seed for seed in seeds if os.path.exists(os.path.join(args.work, f"{done}-{seed}-{last}.json"))})
    else:
        with contextlib.ExitStack() as stack:
            tmp = args.work or stack.enter_context(tempfile.TemporaryDirectory())
            os.makedirs(tmp, exist_ok=True)
            train_and_evaluate(args, arms, seeds, epochs, last, data, real, images_dir, tmp, rows)
    summary = {}
    for (prog, e), ms in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        summary[f"{prog}@{e}"] = {k: {"mean": statistics.mean(m[k] for m in ms),
                                      "std": statistics.pstdev(m[k] for m in ms),
                                      "median": statistics.median(m[k] for m in ms),
                                      "values": [m[k] for m in ms]} for k in KEYS}
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    name = f"quality-{args.tag}.json" if args.tag else "quality.json"
    with open(os.path.join(ROOT, "bench", "results", name), "w") as f:
        json.dump({"seeds": seeds, "epochs": epochs, "n": args.n, "threads": args.threads,
                   "arms": {a: v for a, v in arms.items()}, "results": summary}, f, indent=2)
        f.write("\n")
    print("\n| program | epochs | FID median | FID per seed | FID | KID x1000 | precision | recall | IS | classes covered |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key, s in summary.items():
        prog, e = key.split("@")
        cell = lambda k, scale=1, fmt=".2f": f"{s[k]['mean'] * scale:{fmt}} ± {s[k]['std'] * scale:{fmt}}"
        per_seed = ", ".join(f"{v:.0f}" for v in s["fid"]["values"])
        print(f"| {prog} | {e} | {s['fid']['median']:.1f} | {per_seed} | {cell('fid')} | {cell('kid_mean', 1000)} | {cell('precision', 1, '.3f')} | "
              f"{cell('recall', 1, '.3f')} | {cell('is_mean')} | {cell('classes_covered', 1, '.1f')} |")


if __name__ == "__main__":
    main()
