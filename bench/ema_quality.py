#!/usr/bin/python3
"""What the generator's moving average (ema_kimg) does to a GAN on MNIST: a preset (gan-mnist,
the seed's GAN, by default) trained with `--set ema_kimg=K` (everything else the preset's), a
checkpoint kept every few epochs, and each checkpoint measured by `forgery eval` (Forgery's
MNIST classifier features, 10,000 samples) with the average (eval's default for such a run) and
with the trained weights (`--no-ema`). The arms come from the same run, so they differ only in
the weights that make the samples. For a generator with BatchNorm (dcgan-mnist, cdcgan-mnist) a
third arm, `ema-trained-bn`: the average with the trained network's running statistics, what
`ema_batchnorm=trained` saves (the checkpoint's average is given the network's buffers), against
the average's own recomputed ones (`ema_batchnorm=recompute`, the default). Writes
bench/results/ema_quality[-TAG].json and prints the table for docs/quality.md.

    /usr/bin/python3 bench/ema_quality.py [--preset gan-mnist] [--data DIR] [--epochs 30] [--every 10]
        [--kimg 10] [--seeds 0,1,2] [--threads 2] [--work DIR] [--tag TAG]

About 8 minutes per seed for 30 epochs of gan-mnist on the project's 2-core machine; cdcgan-mnist
takes about 5 minutes an epoch on one thread.
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runs import ROOT, add_seed_arguments, finished, run_quiet, run_seeds, save_result  # noqa: E402

FORGERY = os.environ.get("FORGERY_BIN", os.path.join(ROOT, "build", "forgery"))
KEYS = ["fid", "kid_mean", "precision", "recall", "is_mean", "classes_covered"]
ARMS = ("trained", "ema", "ema-trained-bn")


def with_trained_statistics(ck, out):
    """A copy of checkpoint `ck` whose generator average has the trained network's buffers
    (BatchNorm's running statistics); False where the generator has none."""
    import torch
    d = torch.load(ck)
    ema, net = d["ema"]["generator"], d["networks"]["generator"]
    buffers = [k for k in ema if "running_" in k or k.endswith("num_batches_tracked")]
    if not buffers:
        return False
    for k in buffers:
        ema[k] = net[k].clone()
    torch.save(d, out)
    return True


def run_seed(args, seed, work):
    out = os.path.join(work, f"seed{seed}")
    if not finished(out, args.epochs):
        cmd = [FORGERY, "train", args.preset, "--data", args.data, "--out", out, "--epochs", str(args.epochs),
               "--threads", str(args.threads), "--set", f"seed={seed}", "--set", f"ema_kimg={args.kimg}",
               "--set", f"checkpoint_every={args.every}", "--set", "progress=off"]
        if os.path.exists(os.path.join(out, "checkpoints", "last.pt")):
            cmd = [FORGERY, "resume", out, "--epochs", str(args.epochs), "--set", "progress=off"]
        elif os.path.exists(out):
            cmd.append("--force")
        print(" ".join(cmd), flush=True)
        run_quiet(cmd)
    for epoch in range(args.every, args.epochs + 1, args.every):
        ck = os.path.join(out, "checkpoints", f"epoch_{epoch:04d}.pt")
        for weights in ARMS:
            report = os.path.join(out, "eval", f"epoch_{epoch:04d}-{weights}.json")
            if os.path.exists(report):
                continue
            source = ck
            if weights == "ema-trained-bn":
                source = os.path.join(out, "eval", f"epoch_{epoch:04d}-trained-bn.pt")
                os.makedirs(os.path.dirname(source), exist_ok=True)
                if not with_trained_statistics(ck, source):
                    continue
            cmd = [FORGERY, "eval", source, "--data", args.data, "--seed", "0", "--out", report]
            if weights == "trained":
                cmd.append("--no-ema")
            run_quiet(cmd)
            if source != ck:
                os.remove(source)


def summarize(args, work):
    rows = []
    for epoch in range(args.every, args.epochs + 1, args.every):
        for weights in ARMS:
            per_seed = {}
            for seed in args.seed_list:
                report = os.path.join(work, f"seed{seed}", "eval", f"epoch_{epoch:04d}-{weights}.json")
                if os.path.exists(report):
                    with open(report) as f:
                        j = json.load(f)
                    if j.get("weights") != weights.replace("-trained-bn", ""):
                        raise SystemExit(f"{report} measured the {j.get('weights')} weights, not the {weights} ones")
                    per_seed[seed] = {k: j["metrics"][k] for k in KEYS + ["accuracy"] if k in j["metrics"]}
            if per_seed:
                rows.append({"epoch": epoch, "weights": weights, "seeds": per_seed})
    result = {"what": f"{args.preset} with ema_kimg, each checkpoint evaluated with the average and with the trained "
                      "weights (and, with BatchNorm, the average with the trained network's running statistics)",
              "preset": args.preset, "ema_kimg": args.kimg, "epochs": args.epochs, "threads": args.threads, "data": args.data, "rows": rows}
    path = save_result("ema_quality" + (f"-{args.tag}" if args.tag else "") + ".json", result)
    conditional = any("accuracy" in s for r in rows for s in r["seeds"].values())
    print(f"| epoch | weights | FID median (min-max) | KID median | precision | recall | classes |"
          + (" accuracy |" if conditional else "") + f"  ({path})")
    print("|---|---|---|---|---|---|---|" + ("---|" if conditional else ""))
    for r in rows:
        med = {k: statistics.median(s[k] for s in r["seeds"].values()) for k in r["seeds"][next(iter(r["seeds"]))]}
        fids = [s["fid"] for s in r["seeds"].values()]
        print(f"| {r['epoch']} | {r['weights']} | {med['fid']:.2f} ({min(fids):.2f}-{max(fids):.2f}) | "
              f"{med['kid_mean']:.4f} | {med['precision']:.3f} | {med['recall']:.3f} | {med['classes_covered']:.0f} |"
              + (f" {med['accuracy']:.3f} |" if conditional else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="gan-mnist")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(ROOT), "shared", "datasets", "mnist"))
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--kimg", type=float, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tag", default="")
    add_seed_arguments(ap, 30)
    args = ap.parse_args()
    run_seeds(args, "ema-quality-", run_seed, summarize)


if __name__ == "__main__":
    main()
