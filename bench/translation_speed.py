#!/usr/bin/python3
"""pix2pix or CycleGAN training iterations per second on the CPU: the whole `forgery train`
program (presets pix2pix-facades(-128), cyclegan-horse2zebra(-128)) against the same model in
Python (bench/reference/pix2pix.py, cyclegan.py: the reference implementation's networks, data
pipeline and DataLoader), same machine, alternating runs, on the first --images training
images (pairs, or images of each domain) of facades or horse2zebra. Each run trains 2 epochs;
the second epoch's rate is kept (the first warms up caches and allocators). Batch 1, as the
reference.

    /usr/bin/python3 bench/translation_speed.py --model pix2pix [--sizes 128,256] [--images 40] [--rounds 3]
    /usr/bin/python3 bench/translation_speed.py --model cyclegan [--sizes 128] [--images 20] [--rounds 3]

Arms: Forgery with 2 threads; Python as shipped (PyTorch's default threads, here 1, and the
reference's 4 DataLoader workers); Python with 2 threads and 4 workers; Python with 2 threads
and the data loaded in the training process (no workers: the fastest Python here). Writes
bench/results/MODEL_speed.json and prints a Markdown table for docs/performance.md.
"""
import argparse
import json
import os
import shutil
import statistics
import tempfile
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runs import run_quiet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


PRESETS = {"pix2pix": "pix2pix-facades", "cyclegan": "cyclegan-horse2zebra"}
SMALL_NET = {"pix2pix": "unet_128", "cyclegan": "resnet_6blocks"}


def forgery(model, size, data, out, threads, precision="fp32"):
    preset = PRESETS[model] + ("" if size == 256 else "-128")
    run_quiet([os.path.join(ROOT, "build", "forgery"), "train", preset, "--data", data, "--out", out, "--force",
         "--epochs", "2", "--threads", str(threads), "--set", "eval_every=0", "--set", "progress=off",
         "--set", f"precision={precision}"])
    with open(os.path.join(out, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return rows[-1]["images_per_sec"], threads


def python(model, size, data, out, threads, workers):
    cmd = ["/usr/bin/python3", os.path.join(ROOT, "bench", "reference", model + ".py"), "train", "--data", data,
           "--out", out, "--epochs", "2", "--workers", str(workers)]
    if size == 128:
        cmd += ["--netG", SMALL_NET[model], "--load-size", "143", "--crop-size", "128"]
    if threads:
        cmd += ["--threads", str(threads)]
    rows = [json.loads(line) for line in run_quiet(cmd).splitlines() if line.startswith("{")]
    return rows[-1]["iterations_per_sec"], rows[-1]["threads"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=sorted(PRESETS), default="pix2pix")
    ap.add_argument("--data", help="default: ../shared/datasets/facades or horse2zebra")
    ap.add_argument("--sizes", default="128")
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bf16", action="store_true", help="also Forgery with precision = bf16 (not the same arithmetic)")
    ap.add_argument("--tag", default="", help="results go to bench/results/MODEL_speed[-TAG].json")
    args = ap.parse_args()
    source = args.data or os.path.join(ROOT, "..", "shared", "datasets",
                                       "facades" if args.model == "pix2pix" else "horse2zebra")
    work = tempfile.mkdtemp(prefix=args.model + "-speed-")
    data = os.path.join(work, "data")
    for sub in ("train",) if args.model == "pix2pix" else ("trainA", "trainB"):
        os.makedirs(os.path.join(data, sub))
        folder = os.path.join(os.path.abspath(source), sub)
        for name in sorted(os.listdir(folder))[: args.images]:
            os.symlink(os.path.join(folder, name), os.path.join(data, sub, name))
    out = os.path.join(work, "run")
    results = {}
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            arms = {
                "forgery": lambda: forgery(args.model, size, data, out, 2),
                "python_as_shipped": lambda: python(args.model, size, data, out, 0, 4),
                "python_2_threads_4_workers": lambda: python(args.model, size, data, out, 2, 4),
                "python_2_threads_no_workers": lambda: python(args.model, size, data, out, 2, 0),
            }
            if args.bf16:
                arms["forgery_bf16"] = lambda: forgery(args.model, size, data, out, 2, "bf16")
            r = {k: [] for k in arms}
            threads = {}
            for i in range(args.rounds):
                for name, arm in arms.items():
                    rate, threads[name] = arm()
                    r[name].append(rate)
                    print(f"size {size} round {i + 1}: {name} {rate:.3f} it/s ({threads[name]} threads)", flush=True)
            results[str(size)] = {k: {"median": statistics.median(v), "min": min(v), "max": max(v), "all": v,
                                      "threads": threads[k]} for k, v in r.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # Sizes measured in other invocations are kept (each size records its own settings).
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    path = os.path.join(ROOT, "bench", "results", args.model + "_speed" + (f"-{args.tag}" if args.tag else "") + ".json")
    saved = {}
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f).get("results", {})
    for size, res in results.items():
        saved[size] = {"images": args.images, "rounds": args.rounds, **res}
    with open(path, "w") as f:
        json.dump({"results": saved}, f, indent=2)
        f.write("\n")
    print("\n| size | program | threads | iterations/s, median (min–max) | Forgery's ratio |")
    print("|---|---|---|---|---|")
    for size, res in results.items():
        f = res["forgery"]["median"]
        for name, s in res.items():
            if name in ("images", "rounds"):
                continue
            print(f"| {size} | {name} | {s['threads']} | {s['median']:.2f} ({s['min']:.2f}–{s['max']:.2f}) | "
                  f"{f / s['median']:.2f}x |")


if __name__ == "__main__":
    main()
