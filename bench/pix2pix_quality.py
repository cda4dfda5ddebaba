#!/usr/bin/python3
"""pix2pix quality against the Python reference at equal epochs: facades labels -> photos
(BtoA), both programs trained with the same settings and seeds, then every test pair
translated as the reference's test script does (per-image statistics, dropout) and scored
against the real photos with the same L1 / PSNR / SSIM (bench/image_quality.py, the
definitions Forgery's C++ is golden-tested against).

    /usr/bin/python3 bench/pix2pix_quality.py --epochs 10 --seeds 0,1,2 [--size 128] [--work DIR]
    /usr/bin/python3 bench/pix2pix_quality.py --epochs 10 --seeds 0,1,2 --work DIR --summarize

--epochs E trains E/2 epochs at the full rate and E/2 of linear decay (the reference's 100 + 100
schedule, shortened). Forgery and Python of one seed run side by side, each pinned to its own
core with one thread (taskset), so the CPU time is shared evenly; the Python program loads its
data in the training process. --work keeps the runs (and resumes the table with --summarize);
writes bench/results/pix2pix_quality-sSIZE-eEPOCHS.json and prints a Markdown table.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import image_quality as iq  # noqa: E402
from runs import add_seed_arguments, finished, run_seeds, save_result  # noqa: E402

METRICS = ("l1", "psnr", "ssim")


def load(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64).transpose(2, 0, 1) / 255


def score(pairs):
    """Mean L1, PSNR, SSIM over (output, target) arrays."""
    values = {m: [] for m in METRICS}
    for out, target in pairs:
        values["l1"].append(iq.l1(out, target))
        values["psnr"].append(iq.psnr(out, target))
        values["ssim"].append(iq.ssim(out, target))
    return {m: float(np.mean(v)) for m, v in values.items()} | {"count": len(pairs)}


def forgery_pairs(folder, size):
    """input | output | target strips written by forgery translate --paired."""
    pairs = []
    for name in sorted(f for f in os.listdir(folder) if f.endswith(".png")):
        strip = load(os.path.join(folder, name))
        pairs.append((strip[:, :, size:2 * size], strip[:, :, 2 * size:]))
    return pairs


def python_pairs(folder):
    names = sorted(os.listdir(os.path.join(folder, "fake")))
    return [(load(os.path.join(folder, "fake", n)), load(os.path.join(folder, "real", n))) for n in names]


def commands(args, seed, work):
    half = args.epochs // 2
    data = os.path.abspath(args.data)
    fdir, pdir = os.path.join(work, f"forgery-s{seed}"), os.path.join(work, f"python-s{seed}")
    preset = "pix2pix-facades" if args.size == 256 else "pix2pix-facades-128"
    forgery = [os.path.join(ROOT, "build", "forgery"), "train", preset, "--data", data, "--out", fdir, "--force",
               "--epochs", str(args.epochs), "--threads", "1", "--set", f"seed={seed}", "--set", f"n_epochs={half}",
               "--set", f"n_epochs_decay={args.epochs - half}", "--set", "progress=off",
               "--set", f"eval_every={max(1, args.epochs // 5)}"]
    size_args = [] if args.size == 256 else ["--netG", "unet_128", "--crop-size", "128"]
    python = ["/usr/bin/python3", os.path.join(ROOT, "bench", "reference", "pix2pix.py"), "train", "--data", data,
              "--out", pdir, "--n-epochs", str(half), "--n-epochs-decay", str(args.epochs - half), "--seed", str(seed),
              "--threads", "1", "--workers", "0"] + size_args + ([] if args.size == 256 else ["--load-size", "143"])
    return fdir, pdir, forgery, python


def run_seed(args, seed, work):
    """Trains what is missing of one seed (a run killed half-way trains again; a finished one is
    kept), then translates the test set with both programs."""
    fdir, pdir, forgery, python = commands(args, seed, work)
    data = os.path.abspath(args.data)
    size_args = [] if args.size == 256 else ["--netG", "unet_128", "--crop-size", "128"]
    jobs = []
    if not os.path.exists(os.path.join(fdir, "test", "metrics.json")) and not finished(fdir, args.epochs):
        jobs.append(("0", forgery, f"forgery-s{seed}.log"))
    if not os.path.exists(os.path.join(pdir, "latest_net_G.pth")):
        jobs.append(("1", python, f"python-s{seed}.log"))
    procs = []
    for core, cmd, log in jobs:
        with open(os.path.join(work, log), "w") as f:
            procs.append(subprocess.Popen(["taskset", "-c", core] + cmd, stdout=f, stderr=subprocess.STDOUT))
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"a training run failed; see the logs in {work}")
    if not os.path.exists(os.path.join(fdir, "test", "metrics.json")):
        subprocess.run([os.path.join(ROOT, "build", "forgery"), "translate", fdir, "--paired", "--input",
                        os.path.join(data, "test"), "--out", os.path.join(fdir, "test"), "--seed", str(seed),
                        "--device", "cpu"], check=True, stdout=subprocess.DEVNULL)
    if not os.path.isdir(os.path.join(pdir, "test", "fake")):
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "reference", "pix2pix.py"), "test",
                        "--weights", os.path.join(pdir, "latest_net_G.pth"), "--data", os.path.join(data, "test"),
                        "--out", os.path.join(pdir, "test"), "--seed", str(seed)] + size_args,
                       check=True, stdout=subprocess.DEVNULL)


def figure(args, work, seed, names, out):
    """input | Forgery | Python | target rows for the named test images of one seed."""
    fdir, pdir, _, _ = commands(args, seed, work)
    s, gap = args.size, 2
    canvas = Image.new("RGB", (4 * s + 3 * gap, len(names) * s + (len(names) - 1) * gap), "white")
    for row, name in enumerate(names):
        strip = Image.open(os.path.join(fdir, "test", name + ".png")).convert("RGB")
        tiles = [strip.crop((0, 0, s, s)), strip.crop((s, 0, 2 * s, s)),
                 Image.open(os.path.join(pdir, "test", "fake", name + ".png")).convert("RGB").resize((s, s)),
                 strip.crop((2 * s, 0, 3 * s, s))]
        for col, tile in enumerate(tiles):
            canvas.paste(tile, (col * (s + gap), row * (s + gap)))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    canvas.save(out, optimize=True)
    print(f"wrote {out}: input | Forgery | Python | target, seed {seed}, test images {', '.join(names)}")


def summarize(args, work):
    rows = {}
    for seed in args.seed_list:
        fdir, pdir, _, _ = commands(args, seed, work)
        if not os.path.exists(os.path.join(fdir, "test", "metrics.json")) or \
                not os.path.isdir(os.path.join(pdir, "test", "fake")):
            continue
        with open(os.path.join(fdir, "test", "metrics.json")) as f:
            own = json.load(f)
        rows[seed] = {"forgery": score(forgery_pairs(os.path.join(fdir, "test"), args.size)),
                      "python": score(python_pairs(os.path.join(pdir, "test"))),
                      "forgery_own_metrics": {m: own[m] for m in METRICS}}
    summary = {}
    for prog in ("forgery", "python"):
        summary[prog] = {m: {"median": statistics.median(r[prog][m] for r in rows.values()),
                             "all": [r[prog][m] for r in rows.values()]} for m in METRICS} if rows else {}
    out = {"size": args.size, "epochs": args.epochs, "seeds": sorted(rows), "per_seed": rows, "summary": summary}
    save_result(f"pix2pix_quality-s{args.size}-e{args.epochs}.json", out)
    print(f"\nfacades test set (106 pairs), {args.size}x{args.size}, {args.epochs} epochs, seeds {sorted(rows)}")
    print("\n| program | L1 (lower is better) | PSNR dB | SSIM |")
    print("|---|---|---|---|")
    for prog in ("forgery", "python"):
        if not summary[prog]:
            continue
        cells = []
        for m, fmt in (("l1", "{:.4f}"), ("psnr", "{:.2f}"), ("ssim", "{:.4f}")):
            s = summary[prog][m]
            cells.append(fmt.format(s["median"]) + " (" + ", ".join(fmt.format(v) for v in s["all"]) + ")")
        print(f"| {prog} | " + " | ".join(cells) + " |")
    # Forgery's own metrics.json (C++) against the NumPy scoring of the same PNGs.
    for seed, r in rows.items():
        for m in METRICS:
            a, b = r["forgery"][m], r["forgery_own_metrics"][m]
            if abs(a - b) > 1e-6 * max(1.0, abs(a)):
                print(f"warning: seed {seed} {m}: NumPy {a} and forgery translate {b} differ")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "datasets", "facades"))
    ap.add_argument("--size", type=int, default=128, choices=(128, 256))
    add_seed_arguments(ap, epochs=10)
    ap.add_argument("--figure", metavar="PNG", help="also write input | Forgery | Python | target rows to PNG")
    ap.add_argument("--figure-seed", type=int, default=0)
    ap.add_argument("--figure-images", default="1,25,60,102", help="test image names for --figure")
    args = ap.parse_args()
    work = run_seeds(args, "pix2pix-quality-", run_seed, summarize)
    if args.figure:
        figure(args, work, args.figure_seed, args.figure_images.split(","), args.figure)


if __name__ == "__main__":
    main()
