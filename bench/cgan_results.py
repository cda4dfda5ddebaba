#!/usr/bin/python3
"""The conditional GANs' results on MNIST (docs/models/cgan.md): cgan-mnist and cdcgan-mnist
trained with their presets on the real MNIST training set, seed 0, one thread each and both at
once (one per core), evaluated every few epochs during training (`eval_every`), then the
convolutional one's final checkpoint by `forgery eval` (real images resized as the samples are).
Writes bench/results/cgan_results.json: every evaluated epoch's row of each run's metrics.jsonl,
and the final evaluation.

    /usr/bin/python3 bench/cgan_results.py [--data DIR] [--work DIR]

About 25 minutes on the project's 2-core machine.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runs import ROOT, save_result  # noqa: E402

FORGERY = os.path.join(ROOT, "build", "forgery")
RUNS = {  # preset: (epochs, eval_every), as docs/models/cgan.md shows them
    "cgan-mnist": (50, 2),
    "cdcgan-mnist": (5, 1),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(ROOT), "shared", "datasets", "mnist"))
    ap.add_argument("--work", help="keep the runs here (default: a temporary folder)")
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="cgan-results-")
    os.makedirs(work, exist_ok=True)
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    procs = {}
    for preset, (epochs, every) in RUNS.items():
        out = os.path.join(work, preset)
        cmd = [FORGERY, "train", preset, "--data", args.data, "--out", out, "--epochs", str(epochs), "--threads", "1",
               "--set", f"eval_every={every}", "--set", "progress=off"]
        if os.path.exists(out):
            cmd = [FORGERY, "resume", out, "--epochs", str(epochs), "--set", "progress=off"]
        print(" ".join(cmd), flush=True)
        procs[preset] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    for preset, p in procs.items():
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"{preset} failed ({p.returncode}):\n{err[-2000:]}")
    result = {"data": args.data, "threads": 1, "seed": 0, "runs": {}}
    for preset, (epochs, every) in RUNS.items():
        out = os.path.join(work, preset)
        with open(os.path.join(out, "metrics.jsonl")) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        result["runs"][preset] = {"epochs": epochs, "eval_every": every,
                                  "evaluated": [r for r in rows if "fid" in r],
                                  "seconds": sum(r["seconds"] for r in rows)}
    final = os.path.join(work, "cdcgan-final.json")
    subprocess.run([FORGERY, "eval", os.path.join(work, "cdcgan-mnist"), "--data", args.data, "--out", final],
                   check=True, stdout=subprocess.DEVNULL, env=env)
    with open(final) as f:
        result["cdcgan_final_eval"] = json.load(f)
    print(save_result("cgan_results.json", result))
    for preset, r in result["runs"].items():
        print(f"\n{preset}: {r['seconds']:.0f} s in the epochs")
        for row in r["evaluated"]:
            print(f"  epoch {row['epoch']}: FID {row['fid']:.1f}, accuracy {row.get('accuracy', float('nan')):.3f}, "
                  f"precision {row.get('precision', float('nan')):.3f}, recall {row.get('recall', float('nan')):.3f}, "
                  f"IS {row.get('is_mean', float('nan')):.2f}, classes {row.get('classes_covered', float('nan'))}")


if __name__ == "__main__":
    main()
