"""Helpers shared by the benchmarks that run Forgery and the Python programs."""
import json
import os
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_quiet(cmd):
    """Runs a program with passive OpenMP waiting (no spinning threads between runs); its
    stdout, or exit with its stderr's end when it fails."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    if p.returncode != 0:
        # The start says what went wrong (LibTorch's errors carry long stack traces after it).
        err = p.stderr if len(p.stderr) <= 3000 else p.stderr[:1500] + "\n[...]\n" + p.stderr[-1500:]
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{err}")
    return p.stdout


def add_seed_arguments(ap, epochs):
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--work", help="keep the runs here (default: a temporary folder)")
    ap.add_argument("--summarize", action="store_true", help="only rebuild the table from the runs in --work")


def run_seeds(args, prefix, run_seed, summarize):
    """Trains each seed (what --work already holds is kept) and rebuilds the table after each;
    returns the work folder."""
    args.seed_list = [int(s) for s in args.seeds.split(",")]
    work = args.work or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(work, exist_ok=True)
    if not args.summarize:
        for seed in args.seed_list:
            run_seed(args, seed, work)
            summarize(args, work)
    summarize(args, work)
    return work


def finished(run, epochs):
    """A Forgery run whose metrics.jsonl has every epoch (a killed or unfinished one has fewer)."""
    try:
        with open(os.path.join(run, "metrics.jsonl")) as f:
            return sum(1 for line in f if line.strip()) >= epochs
    except OSError:
        return False


def save_result(name, data):
    """bench/results/NAME as indented JSON; returns its path."""
    folder = os.path.join(ROOT, "bench", "results")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    return path
