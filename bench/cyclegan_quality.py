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

--epochs E trains the first half of E (rounded up) at the full rate and the rest in linear
decay. The runs share the two cores as a queue of jobs, each pinned to one core with one thread
(Python's longer runs first); the Python program loads its data in the training process. Writes bench/results/cyclegan_quality-s128-eEPOCHS.json
and prints a Markdown table.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runs import add_seed_arguments, finished, save_result  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORGERY = os.path.join(ROOT, "build", "forgery")
METRICS = ("AtoB_target_share", "BtoA_target_share", "AtoB_kid", "BtoA_kid", "AtoB_fid", "BtoA_fid", "cycle_A_l1",
           "cycle_B_l1", "kid")


def paths(work, seed):
    return os.path.join(work, f"forgery-s{seed}"), os.path.join(work, f"python-s{seed}")


def train_commands(args, seed, work):
    fdir, pdir = paths(work, seed)
    data = os.path.abspath(args.data)
    # The first half of the epochs (rounded up) at the full rate, the rest in linear decay: a
    # short run is the start of the reference's schedule.
    full = (args.epochs + 1) // 2
    forgery = [FORGERY, "train", "cyclegan-horse2zebra-128", "--data", data, "--out", fdir, "--force",
               "--epochs", str(args.epochs), "--threads", "1", "--set", f"seed={seed}", "--set", f"n_epochs={full}",
               "--set", f"n_epochs_decay={args.epochs - full}", "--set", "progress=off"]
    python = ["/usr/bin/python3", os.path.join(ROOT, "bench", "reference", "cyclegan.py"), "train", "--data", data,
              "--out", pdir, "--netG", "resnet_6blocks", "--load-size", "143", "--crop-size", "128",
              "--n-epochs", str(full), "--n-epochs-decay", str(args.epochs - full), "--seed", str(seed),
              "--threads", "1", "--workers", "0"]
    return forgery, python


def python_as_forgery(args, seed, work):
    """The Python program's networks as a Forgery checkpoint, with the Forgery run's config."""
    fdir, pdir = paths(work, seed)
    with open(os.path.join(fdir, "config.toml")) as f:
        config = f.read()
    ck = {"format": "forgery-checkpoint", "version": 2, "recipe": "cyclegan", "model": "cyclegan", "config": config,
          "epoch": args.epochs, "global_step": 0, "batch_in_epoch": 0,
          "networks": {n: torch.load(os.path.join(pdir, f"latest_net_{n}.pth")) for n in ("G_A", "G_B", "D_A", "D_B")}}
    torch.save(ck, os.path.join(pdir, "as_forgery.pt"))
    return os.path.join(pdir, "as_forgery.pt")


def eval_command(args, target, out):
    return [FORGERY, "eval", target, "--data", os.path.abspath(args.data), "--out", out]


def run_all(args, work):
    """Every seed's two trainings and two evaluations as jobs on two slots, each pinned to its
    own core with one thread: Python's longer runs start first so that both cores stay busy.
    A seed's Forgery evaluation waits for its Forgery run (and the config it wrote); the Python
    evaluation for both runs. What --work already holds is kept."""
    env = {**os.environ, "FORGERY_CACHE": os.path.join(work, "cache"), "OMP_NUM_THREADS": "1"}
    jobs = []  # (name, needs, make_command, log)
    for seed in args.seed_list:
        fdir, pdir = paths(work, seed)
        forgery, python = train_commands(args, seed, work)
        ftrain = not finished(fdir, args.epochs)
        ptrain = not os.path.exists(os.path.join(pdir, "latest_net_G_A.pth"))
        if ptrain:
            jobs.append((f"python-s{seed}", [], lambda c=python: c, pdir + ".log"))
        if ftrain:
            jobs.append((f"forgery-s{seed}", [], lambda c=forgery: c, fdir + ".log"))
        if ftrain or not os.path.exists(os.path.join(fdir, "eval.json")):
            jobs.append((f"eval-forgery-s{seed}", [f"forgery-s{seed}"],
                         lambda f=fdir: eval_command(args, f, os.path.join(f, "eval.json")), fdir + "-eval.log"))
        if ptrain or ftrain or not os.path.exists(os.path.join(pdir, "eval.json")):
            jobs.append((f"eval-python-s{seed}", [f"forgery-s{seed}", f"python-s{seed}"],
                         lambda s=seed, p=pdir: eval_command(args, python_as_forgery(args, s, work),
                                                             os.path.join(p, "eval.json")), pdir + "-eval.log"))
    names = {j[0] for j in jobs}
    done, running, slots = set(), {}, [0, 1]
    while jobs or running:
        for name, (proc, slot, log) in list(running.items()):
            if proc.poll() is not None:
                log.close()
                if proc.returncode != 0:
                    for p, _, _ in running.values():
                        p.terminate()
                    raise SystemExit(f"{name} failed ({proc.returncode}); see its log in {work}")
                print(f"{time.strftime('%H:%M:%S')} {name} finished", flush=True)
                done.add(name)
                slots.append(slot)
                del running[name]
                if name.startswith("eval-python"):
                    summarize(args, work)
        while slots:
            ready = [j for j in jobs if all(n in done or n not in names for n in j[1])]
            if not ready:
                break
            name, _, make, logname = ready[0]
            jobs.remove(ready[0])
            slot = slots.pop(0)
            log = open(logname, "w")
            proc = subprocess.Popen(["taskset", "-c", str(slot)] + make(), stdout=log, stderr=subprocess.STDOUT, env=env)
            print(f"{time.strftime('%H:%M:%S')} {name} started on core {slot}", flush=True)
            running[name] = (proc, slot, log)
        time.sleep(2)


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
            # FID only where the test sets hold more images than the features have dimensions.
            rows[seed][prog] = {m: metrics[m] for m in METRICS if m in metrics}
    shown = [m for m in METRICS if rows and all(m in r[p] for r in rows.values() for p in ("forgery", "python"))]
    summary = {prog: {m: {"median": statistics.median(r[prog][m] for r in rows.values()),
                          "all": [r[prog][m] for r in rows.values()]} for m in shown} if rows else {}
               for prog in ("forgery", "python")}
    out = {"size": 128, "epochs": args.epochs, "seeds": sorted(rows), "per_seed": rows, "summary": summary}
    save_result(f"cyclegan_quality-s128-e{args.epochs}.json", out)
    print(f"\nhorse2zebra test sets, 128x128, {args.epochs} epochs, seeds {sorted(rows)} (median, then each seed)")
    print("\n| program | " + " | ".join(shown) + " |")
    print("|---|" + "---|" * len(shown))
    for prog in ("forgery", "python"):
        if summary[prog]:
            print(f"| {prog} | " + " | ".join(
                f"{summary[prog][m]['median']:.4g} (" + ", ".join(f"{v:.4g}" for v in summary[prog][m]["all"]) + ")"
                for m in shown) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "datasets", "horse2zebra"))
    add_seed_arguments(ap, epochs=4)
    args = ap.parse_args()
    args.seed_list = [int(x) for x in args.seeds.split(",")]
    work = args.work or tempfile.mkdtemp(prefix="cyclegan-quality-")
    os.makedirs(work, exist_ok=True)
    if not args.summarize:
        run_all(args, work)
    summarize(args, work)


if __name__ == "__main__":
    main()
