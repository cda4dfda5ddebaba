#!/usr/bin/python3
"""Kill -9 soak: a small run is killed with SIGKILL at random moments (in steps, in checkpoint,
sample, plot and metrics writes), resumed, killed again, until it completes; then it is compared
with an uninterrupted run of the same seed. Repeated until --kills kills have landed.

    /usr/bin/python3 bench/kill_soak.py --model gan --kills 100 [--epochs 20] [--seed 0]
    /usr/bin/python3 bench/kill_soak.py --model pix2pix --kills 100 [--epochs 12]

After every kill: the folder is checked as a user would find it (last.pt present once one was
written, metrics.jsonl whole lines of JSON, every PNG decodable), and whether a write was in
flight (a temporary of the killed process left behind) is recorded. After every completed run:
weights bit-identical to the uninterrupted run's, the metrics' losses identical with every epoch
exactly once, every epoch's picture pixel-identical, progress.gif decodable with one frame per
epoch, no temporary file left. Writes bench/results/kill_soak-MODEL.json and prints a summary;
exits non-zero on any failure.
"""
import argparse
import gzip
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORGERY = os.path.join(ROOT, "build", "forgery")
TMP = re.compile(r"\.tmp-(\d+)$")


def write_fake_mnist(folder, n_train=512, n_test=64, seed=0):
    """MNIST-format files of bars whose position is the label: something to learn, made here."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
        for i, l in enumerate(labels):
            images[i, 4:24, 2 + 2 * l:4 + 2 * l] = 255
        with gzip.open(os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        with gzip.open(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">II", 2049, n) + labels.tobytes())


def write_pairs(folder, n_train=6, n_val=2, side=128, seed=0):
    """A|B pairs: coloured rectangles and their inverted 'label maps'."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        os.makedirs(os.path.join(folder, split), exist_ok=True)
        for i in range(1, n + 1):
            photo = rng.integers(100, 130, (side, side, 3)).astype(np.uint8)
            labels = np.full_like(photo, 20)
            for _ in range(3):
                x0, y0 = rng.integers(0, side // 2, 2)
                x1, y1 = x0 + side // 4 + rng.integers(0, side // 4), y0 + side // 4 + rng.integers(0, side // 4)
                c = rng.integers(0, 256, 3).astype(np.uint8)
                photo[y0:y1, x0:x1] = c
                labels[y0:y1, x0:x1] = 255 - c
            Image.fromarray(np.concatenate([photo, labels], 1)).save(os.path.join(folder, split, f"{i}.png"))


def train_command(args, data, out):
    common = ["--out", out, "--force", "--epochs", str(args.epochs), "--threads", "1", "--data", data,
              "--set", f"seed={args.seed}", "--set", "progress=off"] + [a for kv in args.set for a in ("--set", kv)]
    if args.model == "gan":
        return [FORGERY, "train", "gan-mnist"] + common
    return [FORGERY, "train", "pix2pix-facades-128"] + common + [
        "--set", "ngf=2", "--set", "ndf=2", "--set", "load_size=136", "--set", "visual_count=2",
        "--set", "eval_every=3", "--set", f"n_epochs={args.epochs // 2}",
        "--set", f"n_epochs_decay={args.epochs - args.epochs // 2}"]


def temporaries(run):
    found = []
    for dirpath, _, files in os.walk(run):
        for f in files:
            m = TMP.search(f)
            if m:
                found.append((os.path.join(dirpath, f), int(m.group(1))))
    return found


def losses(run):
    rows = []
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                rows.append({k: v for k, v in r.items() if not k.endswith("seconds") and k != "images_per_sec"})
    return rows


def check_after_kill(run, problems):
    """What a user finds in the folder right after the kill."""
    for dirpath, _, files in os.walk(run):
        for f in files:
            path = os.path.join(dirpath, f)
            if TMP.search(f):
                continue
            try:
                if f.endswith(".png"):
                    Image.open(path).load()
                elif f == "metrics.jsonl":
                    with open(path) as fh:
                        for line in fh:
                            if line.strip():
                                json.loads(line)
            except Exception as e:  # noqa: BLE001 - every failure is a finding
                problems.append(f"after a kill: {path}: {e}")


def compare(run, ref, epochs, problems):
    for name in sorted(os.listdir(os.path.join(ref, "weights"))):
        a = torch.load(os.path.join(run, "weights", name))
        b = torch.load(os.path.join(ref, "weights", name))
        if list(a) != list(b) or any(not torch.equal(a[k], b[k]) for k in a):
            problems.append(f"{run}: weights/{name} differs from the uninterrupted run")
    got, want = losses(run), losses(ref)
    if [r["epoch"] for r in got] != list(range(1, epochs + 1)):
        problems.append(f"{run}: metrics epochs {[r['epoch'] for r in got]}")
    elif got != want:
        problems.append(f"{run}: metrics differ from the uninterrupted run")
    for f in sorted(os.listdir(os.path.join(ref, "samples"))):
        a = np.asarray(Image.open(os.path.join(run, "samples", f)))
        b = np.asarray(Image.open(os.path.join(ref, "samples", f)))
        if a.shape != b.shape or (a != b).any():
            problems.append(f"{run}: samples/{f} differs")
    gif = Image.open(os.path.join(run, "progress.gif"))
    if getattr(gif, "n_frames", 1) != epochs:
        problems.append(f"{run}: progress.gif has {gif.n_frames} frames, not {epochs}")
    for path, _ in temporaries(run):
        problems.append(f"{run}: temporary file left: {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=("gan", "pix2pix"), default="gan")
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", help="keep the runs here (default: a temporary folder, removed)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="an option for every run (e.g. width=16 with --epochs 150: epochs shorter than their "
                         "writes, so that epochs leave their checkpoints to later ones; keep the run long against "
                         "its start-up, as kills land in the first half of an uninterrupted run's time)")
    ap.add_argument("--tag", default="", help="results file suffix: kill_soak-MODEL[-TAG].json")
    args = ap.parse_args()
    args.epochs = args.epochs or (20 if args.model == "gan" else 12)
    work = args.work or tempfile.mkdtemp(prefix="kill-soak-")
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "data")
    if args.model == "gan":
        write_fake_mnist(data)
    else:
        write_pairs(data)
    ref = os.path.join(work, "reference")
    t0 = time.monotonic()
    subprocess.run(train_command(args, data, ref), check=True, stdout=subprocess.DEVNULL)
    full = time.monotonic() - t0
    rng = random.Random(args.seed)
    problems, kills, in_write, runs, starts = [], 0, 0, 0, 0
    kill_log = []
    while kills < args.kills:
        run = os.path.join(work, f"soak-{runs}")
        shutil.rmtree(run, ignore_errors=True)
        done = False
        while not done:
            has_checkpoint = os.path.exists(os.path.join(run, "checkpoints", "last.pt"))
            cmd = [FORGERY, "resume", run] if has_checkpoint else train_command(args, data, run)
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            starts += 1
            # Anywhere in the first half of an uninterrupted run's time: start-up, steps and
            # writes alike.
            delay = rng.uniform(0.05, full / 2)
            try:
                _, err = p.communicate(timeout=delay)
                if p.returncode != 0:
                    problems.append(f"{' '.join(cmd)} failed ({p.returncode}): {err.decode()[-500:]}")
                    break
                done = True
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                p.communicate()
                kills += 1
                left = [t for t, pid in temporaries(run) if pid == p.pid]
                in_write += bool(left)
                kill_log.append({"after_s": round(delay, 3), "temporaries_left": [os.path.relpath(t, run) for t in left]})
                check_after_kill(run, problems)
        if not done:
            break
        compare(run, ref, args.epochs, problems)
        runs += 1
        print(f"run {runs}: complete and identical so far ({kills} kills, {in_write} during a write, "
              f"{len(problems)} problems)", flush=True)
    interrupted = {}
    for k in kill_log:
        for t in k["temporaries_left"]:
            interrupted[TMP.sub("", t)] = interrupted.get(TMP.sub("", t), 0) + 1
    summary = {"model": args.model, "epochs": args.epochs, "kills": kills, "kills_during_a_write": in_write,
               "writes_interrupted": dict(sorted(interrupted.items())),
               "starts": starts, "completed_runs": runs, "uninterrupted_run_s": round(full, 2),
               "problems": problems, "kill_log": kill_log}
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    name = f"kill_soak-{args.model}" + (f"-{args.tag}" if args.tag else "") + ".json"
    with open(os.path.join(ROOT, "bench", "results", name), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    print(f"{args.model}: {kills} kills ({in_write} while a file was being written), {starts} starts, {runs} "
          f"completed runs compared with the uninterrupted one: {len(problems)} problems")
    print("writes cut short by a kill: " + ", ".join(f"{k} {v}" for k, v in sorted(interrupted.items())))
    for p in problems[:20]:
        print("  " + p)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
