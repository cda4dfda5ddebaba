#!/usr/bin/python3
"""Where a training iteration's time goes in the Python references (bench/reference/): PyTorch's
autograd profiler over 3 iterations (batch 1, random images; CycleGAN resnet_6blocks at 128 and
resnet_9blocks at 256, pix2pix unet_128 / unet_256), the operators with the most self time. The
convolutions' share bounds what any program running the same kernels can gain over it.

    /usr/bin/python3 bench/step_profile.py --model cyclegan|pix2pix [--size 128] [--threads 2]

With --speed N it times N iterations instead (after 3 warm-up ones) and prints one JSON line
with iterations per second, on --device cpu or cuda (--tf32 default|on|off as in
bench/reference/dcgan.py): the Python side of bench/gpu_speed.py's pix2pix and CycleGAN rows.
"""
import argparse
import itertools
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
import cyclegan as cg  # noqa: E402
import pix2pix as p2p  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=("cyclegan", "pix2pix"), default="cyclegan")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--speed", type=int, default=0, help="time this many iterations instead of profiling")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tf32", choices=["default", "on", "off"], default="default")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    if args.tf32 != "default":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32 == "on"
        torch.backends.cudnn.allow_tf32 = args.tf32 == "on"
    dev = torch.device(args.device)
    if dev.type == "cuda":
        # As the reference implementation's BaseModel does for fixed-size inputs (and the trainer).
        torch.backends.cudnn.benchmark = True
    a = (torch.rand(1, 3, args.size, args.size) * 2 - 1).to(dev)
    b = (torch.rand(1, 3, args.size, args.size) * 2 - 1).to(dev)
    if args.model == "cyclegan":
        blocks = "resnet_6blocks" if args.size <= 128 else "resnet_9blocks"
        nets = tuple(n.to(dev) for n in (cg.make_generator(blocks, 3, 3, 64), cg.make_generator(blocks, 3, 3, 64),
                                          p2p.make_discriminator("basic", 3, 64, norm="instance"),
                                          p2p.make_discriminator("basic", 3, 64, norm="instance")))
        opt_g = torch.optim.Adam(itertools.chain(nets[0].parameters(), nets[1].parameters()), lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(itertools.chain(nets[2].parameters(), nets[3].parameters()), lr=2e-4, betas=(0.5, 0.999))
        pools, loss = (cg.ImagePool(50), cg.ImagePool(50)), p2p.GanLoss("lsgan")

        def step():
            cg.cyclegan_step(nets, opt_g, opt_d, a, b, pools, loss)
    else:
        G = p2p.make_generator("unet_128" if args.size <= 128 else "unet_256", 3, 3).to(dev)
        D = p2p.make_discriminator("basic", 6).to(dev)
        opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        loss = p2p.GanLoss("vanilla")

        def step():
            p2p.pix2pix_step(G, D, opt_g, opt_d, a, b, loss)
    if args.speed:
        for _ in range(3):
            step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(args.speed):
            step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        secs = time.perf_counter() - t0
        print(json.dumps({"program": "python", "model": args.model, "size": args.size, "device": args.device,
                          "tf32_conv": torch.backends.cudnn.allow_tf32, "steps": args.speed, "seconds": secs,
                          "iterations_per_sec": args.speed / secs}))
        return
    for _ in range(2):
        step()
    with torch.autograd.profiler.profile() as prof:
        for _ in range(3):
            step()
    stats = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in stats)
    conv = sum(e.self_cpu_time_total for e in stats if "conv" in e.key)
    for e in sorted(stats, key=lambda e: -e.self_cpu_time_total)[:12]:
        print(f"{e.key:40s} {e.self_cpu_time_total / 3e3:8.1f} ms an iteration  {100 * e.self_cpu_time_total / total:5.1f}%")
    print(f"total {total / 3e3:.0f} ms an iteration; convolutions (forward, backward, transposed) "
          f"{100 * conv / total:.1f}%: a program with no cost besides them would be at most "
          f"{total / conv:.3f}x faster than this one on the same kernels")


if __name__ == "__main__":
    main()
