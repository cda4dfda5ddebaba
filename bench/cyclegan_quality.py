#!/usr/bin/python3
"""CycleGAN quality against the Python reference at equal epochs: horse2zebra at 128x128
(resnet_6blocks), both programs trained with the same settings and seeds, then both measured
by the same code: `forgery eval` with the domain judge (trained once on the training images,
shared) on the test sets: the share of translations in the target domain, KID on the judge's
features and the cycle L1, both directions. The Python program's generators are measured by
wrapping its four state_dicts in a Forgery checkpoint (format 2, the run's own config), which
`forgery eval` reads like any other; the networks are the same module for module
(golden-tested), so what is measured is the Python program's training.

    /usr/bin/python3 bench/cyclegan_quality.py --epochs 4 --seeds 0,1,2 [--work DIR] [--summarize]

--epochs E trains E/2 epochs at the full rate and E/2 of linear decay. Forgery and Python of
one seed run side by side, each pinned to its own core with one thread; the Python program
loads its data in the training process. Writes bench/results/cyclegan_quality-s128-eEPOCHS.json
and prints a Markdown table.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runs import add_seed_arguments, finished, run_seeds  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORGERY = os.path.join(ROOT, "build", "forgery")
METRICS = ("AtoB_target_share", "BtoA_target_share", "AtoB_kid", "BtoA_kid", "cycle_A_l1", "cycle_B_l1", "kid")


def paths(work, seed):
    return os.path.join(work, f"forgery-s{seed}"), os.path.join(work, f"python-s{seed}")


def run_seed(args, seed, work):
    fdir, pdir = paths(work, seed)
    data = os.path.abspath(args.data)
    half = args.epochs // 2
    env = {**os.environ, "FORGERY_CACHE": os.path.join(work, "cache")}
    if not finished(fdir, args.epochs) or not os.path.exists(os.path.join(pdir, "latest_net_G_A.pth")):
        forgery = [FORGERY, "train", "cyclegan-horse2zebra-128", "--data", data, "--out", fdir, "--force",
                   "--epochs", str(args.epochs), "--threads", "1", "--set", f"seed={seed}", "--set", f"n_epochs={half}",
                   "--set", f"n_epochs_decay={args.epochs - half}", "--set", "progress=off"]
        python = ["/usr/bin/python3", os.path.join(ROOT, "bench", "reference", "cyclegan.py"), "train", "--data", data,
                  "--out", pdir, "--netG", "resnet_6blocks", "--load-size", "143", "--crop-size", "128",
                  "--n-epochs", str(half), "--n-epochs-decay", str(args.epochs - half), "--seed", str(seed),
                  "--threads", "1", "--workers", "0"]
        with open(fdir + ".log", "w") as flog, open(pdir + ".log", "w") as plog:
            procs = [subprocess.Popen(["taskset", "-c", "0"] + forgery, stdout=flog, stderr=subprocess.STDOUT, env=env),
                     subprocess.Popen(["taskset", "-c", "1"] + python, stdout=plog, stderr=subprocess.STDOUT)]
            for p in procs:
                if p.wait() != 0:
                    raise SystemExit(f"a training run failed; see the logs in {work}")
    # The Python program's networks as a Forgery checkpoint, with the Forgery run's config.
    with open(os.path.join(fdir, "config.toml")) as f:
        config = f.read()
    ck = {"format": "forgery-checkpoint", "version": 2, "recipe": "cyclegan", "model": "cyclegan", "config": config,
          "epoch": args.epochs, "global_step": 0, "batch_in_epoch": 0,
          "networks": {n: torch.load(os.path.join(pdir, f"latest_net_{n}.pth")) for n in ("G_A", "G_B", "D_A", "D_B")}}
    torch.save(ck, os.path.join(pdir, "as_forgery.pt"))
    for target, out in ((fdir, os.path.join(fdir, "eval.json")), (os.path.join(pdir, "as_forgery.pt"), os.path.join(pdir, "eval.json"))):
        subprocess.run([FORGERY, "eval", target, "--data", data, "--out", out], check=True, env=env,
                       stdout=subprocess.DEVNULL)


def summarize(args, work):
    rows = {}
    for seed in args.seed_list:
        fdir, pdir = paths(work, seed)
        files = [os.path.join(fdir, "eval.json"), os.path.join(pdir, "eval.json")]
        if not all(os.path.exists(f) for f in files):
            continue
        rows[seed] = {}
        for prog, f in zip(("forgery", "python"), files):
            with open(f) as fh:
                metrics = json.load(fh)["metrics"]
            rows[seed][prog] = {m: metrics[m] for m in METRICS}
    summary = {prog: {m: {"median": statistics.median(r[prog][m] for r in rows.values()),
                          "all": [r[prog][m] for r in rows.values()]} for m in METRICS} if rows else {}
               for prog in ("forgery", "python")}
    out = {"size": 128, "epochs": args.epochs, "seeds": sorted(rows), "per_seed": rows, "summary": summary}
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", f"cyclegan_quality-s128-e{args.epochs}.json"), "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(f"\nhorse2zebra test sets, 128x128, {args.epochs} epochs, seeds {sorted(rows)} (median, then each seed)")
    print("\n| program | " + " | ".join(METRICS) + " |")
    print("|---|" + "---|" * len(METRICS))
    for prog in ("forgery", "python"):
        if summary[prog]:
            print(f"| {prog} | " + " | ".join(
                f"{summary[prog][m]['median']:.4g} (" + ", ".join(f"{v:.4g}" for v in summary[prog][m]["all"]) + ")"
                for m in METRICS) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "datasets", "horse2zebra"))
    add_seed_arguments(ap, epochs=4)
    args = ap.parse_args()
    run_seeds(args, "cyclegan-quality-", run_seed, summarize)


if __name__ == "__main__":
    main()
