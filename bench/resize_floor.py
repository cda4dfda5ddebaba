#!/usr/bin/python3
"""The FID that resizing alone costs: the real MNIST test images taken to a model's size the
way Forgery's data pipeline does (torchvision's Resize on PIL images) and back to 28x28 the way
`forgery eval` fits generated images to the classifier (antialiased bilinear), then compared
with the untouched test set by `forgery eval`. A perfect 32x32 or 64x64 MNIST model scores
about this FID, not 0. Needs `scripts/setup --dev` and a build.

    /usr/bin/python3 bench/resize_floor.py [--data ../shared/datasets/mnist] [--sizes 32,64]
"""
import argparse
import gzip
import json
import os
import subprocess
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_idx_gz(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, h, w = (int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    return np.frombuffer(data[16:], dtype=np.uint8).reshape(n, h, w)


def write_idx(path, images):
    n, h, w = images.shape
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + b"".join(int(v).to_bytes(4, "big") for v in (n, h, w)))
        f.write(images.astype(np.uint8).tobytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "datasets", "mnist"))
    ap.add_argument("--sizes", default="32,64")
    args = ap.parse_args()
    real = os.path.join(os.path.abspath(args.data), "t10k-images-idx3-ubyte.gz")
    test = read_idx_gz(real)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in [int(s) for s in args.sizes.split(",")]:
            up = np.stack([np.asarray(Image.fromarray(x).resize((size, size), Image.BILINEAR)) for x in test])
            x = torch.from_numpy(up).float().div(255).sub(0.5).div(0.5).unsqueeze(1)
            back = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False, antialias=True).clamp(-1, 1)
            as_bytes = (back.add(1).div(2).mul(255).add(0.5).clamp(0, 255)).to(torch.uint8).squeeze(1).numpy()
            fake = os.path.join(tmp, f"roundtrip{size}.idx")
            write_idx(fake, as_bytes)
            report = os.path.join(tmp, f"roundtrip{size}.json")
            subprocess.run([os.path.join(ROOT, "build", "forgery"), "eval", "--real", real, "--fake", fake, "--data",
                            os.path.abspath(args.data), "--metrics", "fid,pr", "--out", report],
                           check=True, stdout=subprocess.DEVNULL)
            with open(report) as f:
                results[size] = json.load(f)["metrics"]
            print(f"28 -> {size} -> 28: FID {results[size]['fid']:.2f}, precision {results[size]['precision']:.3f}, "
                  f"recall {results[size]['recall']:.3f}", flush=True)
    with open(os.path.join(ROOT, "bench", "results", "resize_floor.json"), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
