#!/usr/bin/python3
"""pix2pix in Python PyTorch, written for Forgery as the reference it is checked and timed
against: the networks, initialisation, losses, optimisers, schedule and data transforms of the
reference implementation users know (junyanz/pytorch-CycleGAN-and-pix2pix, `--model pix2pix`),
with the same module names, so state_dicts move between the two unchanged.

    /usr/bin/python3 bench/reference/pix2pix.py train --data DATA --out DIR [--netG unet_128
        --load-size 143 --crop-size 128] [--direction BtoA] [--n-epochs 100 --n-epochs-decay 100]
        [--seed 0] [--threads N] [--workers 4]
    /usr/bin/python3 bench/reference/pix2pix.py test --weights DIR/latest_net_G.pth --data DATA/test
        --out OUT [--netG ...] [--direction BtoA] [--eval] [--seed 0]

`train` prints one JSON line per epoch (losses, seconds, iterations per second) and saves
latest_net_G.pth / latest_net_D.pth (state_dicts, as the reference saves them). `test`
translates every A|B pair of a folder as the reference's test script does (resized to
crop_size, the networks in training mode unless --eval) and writes OUT/fake/NAME.png and
OUT/real/NAME.png (the target), rounded to 8 bits the way Forgery's PNG writer rounds.

The data pipeline is the reference's, per pair and per iteration: PIL decode, RGB, split at
half the width, each half resized to load_size with PIL's bicubic filter, the same random crop
and flip for both halves (Python's `random`), ToTensor, Normalize(0.5, 0.5); a DataLoader with
--workers processes (the reference's default is 4) shuffles each epoch.
"""
import argparse
import json
import os
import random
import sys
import time

import torch
import torch.nn as nn
from PIL import Image


# ---------------------------------------------------------------------------------------------
# Networks (module names as the reference's, so that state_dicts are interchangeable)

def norm_layer(kind, channels):
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


class UnetSkipBlock(nn.Module):
    """One U-Net level. Its first layer is an in-place LeakyReLU, so the skip connection joins
    LeakyReLU(x) to the inner result (as in the reference)."""

    def __init__(self, outer_nc, inner_nc, input_nc=None, inner=None, kind="middle", norm="batch",
                 dropout=False):
        super().__init__()
        self.outermost = kind == "outermost"
        bias = norm == "instance"
        input_nc = outer_nc if input_nc is None else input_nc
        down = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        if kind == "outermost":
            up = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [down, inner, nn.ReLU(True), up, nn.Tanh()]
        elif kind == "innermost":
            up = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, norm_layer(norm, outer_nc)]
        else:
            up = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, norm_layer(norm, inner_nc), inner, nn.ReLU(True), up,
                      norm_layer(norm, outer_nc)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        y = self.model(x)
        return torch.cat([x, y], 1)


class UnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, num_downs, ngf=64, norm="batch", dropout=False):
        super().__init__()
        block = UnetSkipBlock(ngf * 8, ngf * 8, kind="innermost", norm=norm)
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(ngf * 8, ngf * 8, inner=block, norm=norm, dropout=dropout)
        block = UnetSkipBlock(ngf * 4, ngf * 8, inner=block, norm=norm)
        block = UnetSkipBlock(ngf * 2, ngf * 4, inner=block, norm=norm)
        block = UnetSkipBlock(ngf, ngf * 2, inner=block, norm=norm)
        self.model = UnetSkipBlock(output_nc, ngf, input_nc=input_nc, inner=block, kind="outermost", norm=norm)

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf=64, n_layers=3, norm="batch"):
        super().__init__()
        bias = norm == "instance"
        layers = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=bias), norm_layer(norm, ndf * mult),
                       nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=bias), norm_layer(norm, ndf * mult),
                   nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class PixelDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf=64, norm="batch"):
        super().__init__()
        bias = norm == "instance"
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1, 1, 0), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, 1, 0, bias=bias), norm_layer(norm, ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, 1, 0, bias=bias))

    def forward(self, x):
        return self.net(x)


def init_weights(net, gain=0.02):
    """N(0, gain) for convolutions (biases zero), N(1, gain) for BatchNorm weights, through
    Module.apply as the reference does."""
    def init(m):
        name = m.__class__.__name__
        if hasattr(m, "weight") and ("Conv" in name or "Linear" in name):
            nn.init.normal_(m.weight.data, 0.0, gain)
            if getattr(m, "bias", None) is not None:
                nn.init.constant_(m.bias.data, 0.0)
        elif "BatchNorm2d" in name:
            nn.init.normal_(m.weight.data, 1.0, gain)
            nn.init.constant_(m.bias.data, 0.0)
    net.apply(init)
    return net


def make_generator(name, input_nc, output_nc, ngf=64, norm="batch", dropout=True, gain=0.02):
    downs = {"unet_256": 8, "unet_128": 7}[name] if name.startswith("unet_") and name[5:] in ("128", "256") \
        else int(name.split("_")[1])  # "unet_N" with N downsamplings, for small test networks
    return init_weights(UnetGenerator(input_nc, output_nc, downs, ngf, norm, dropout), gain)


def make_discriminator(name, input_nc, ndf=64, n_layers=3, norm="batch", gain=0.02):
    if name == "basic":
        net = NLayerDiscriminator(input_nc, ndf, 3, norm)
    elif name == "n_layers":
        net = NLayerDiscriminator(input_nc, ndf, n_layers, norm)
    else:
        net = PixelDiscriminator(input_nc, ndf, norm)
    return init_weights(net, gain)


# ---------------------------------------------------------------------------------------------
# Losses, step and schedule

class GanLoss:
    """vanilla: binary cross-entropy on logits; lsgan: mean squared error; the target (1 real,
    0 fake) expanded to the prediction's shape."""

    def __init__(self, mode):
        self.loss = nn.BCEWithLogitsLoss() if mode == "vanilla" else nn.MSELoss()

    def __call__(self, prediction, real):
        return self.loss(prediction, torch.tensor(1.0 if real else 0.0, device=prediction.device).expand_as(prediction))


def set_requires_grad(net, flag):
    for p in net.parameters():
        p.requires_grad = flag


def pix2pix_step(G, D, opt_g, opt_d, real_a, real_b, gan_loss, lambda_l1=100.0):
    """One iteration: G forward, D on (A, fake B) then (A, real B) halved, then G (D frozen)."""
    fake_b = G(real_a)
    set_requires_grad(D, True)
    opt_d.zero_grad()
    loss_d_fake = gan_loss(D(torch.cat((real_a, fake_b.detach()), 1)), False)
    loss_d_real = gan_loss(D(torch.cat((real_a, real_b), 1)), True)
    ((loss_d_fake + loss_d_real) * 0.5).backward()
    opt_d.step()
    set_requires_grad(D, False)
    opt_g.zero_grad()
    loss_g_gan = gan_loss(D(torch.cat((real_a, fake_b), 1)), True)
    loss_g_l1 = nn.functional.l1_loss(fake_b, real_b) * lambda_l1
    (loss_g_gan + loss_g_l1).backward()
    opt_g.step()
    return {"G_GAN": loss_g_gan.item(), "G_L1": loss_g_l1.item(), "D_real": loss_d_real.item(),
            "D_fake": loss_d_fake.item()}


def linear_rule(n_epochs, n_epochs_decay):
    """The reference's 'linear' policy (epoch_count 1), for LambdaLR stepped after each epoch."""
    return lambda epoch: 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)


# ---------------------------------------------------------------------------------------------
# Data

def image_files(folder):
    out = []
    for root, _, names in os.walk(folder):
        out += [os.path.join(root, n) for n in names if n.lower().endswith((".jpg", ".jpeg", ".png"))]
    return sorted(out)


def to_tensor(img):
    """ToTensor then Normalize((0.5,)*c, (0.5,)*c)."""
    import numpy as np
    a = torch.from_numpy(np.array(img, dtype=np.uint8))
    a = a.unsqueeze(2) if a.dim() == 2 else a
    return a.permute(2, 0, 1).float().div(255).sub_(0.5).div_(0.5)


def transform(img, channels, load_size, crop_size, x, y, flip):
    if channels == 1:
        img = img.convert("L")
    img = img.resize((load_size, load_size), Image.BICUBIC)
    if load_size > crop_size:
        img = img.crop((x, y, x + crop_size, y + crop_size))
    if flip:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return to_tensor(img)


class AlignedPairs(torch.utils.data.Dataset):
    def __init__(self, folder, load_size, crop_size, a_channels=3, b_channels=3, train=True):
        self.files = image_files(folder)
        self.load, self.crop, self.train = load_size, crop_size, train
        self.ca, self.cb = a_channels, b_channels

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        ab = Image.open(self.files[i]).convert("RGB")
        w, h = ab.size
        a, b = ab.crop((0, 0, w // 2, h)), ab.crop((w // 2, 0, w, h))
        if self.train:
            x = random.randint(0, max(0, self.load - self.crop))
            y = random.randint(0, max(0, self.load - self.crop))
            flip = random.random() > 0.5
            load = self.load
        else:
            x = y = 0
            flip = False
            load = self.crop
        return {"A": transform(a, self.ca, load, self.crop, x, y, flip),
                "B": transform(b, self.cb, load, self.crop, x, y, flip), "path": self.files[i]}


# ---------------------------------------------------------------------------------------------
# Commands

def train(args):
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    a_to_b = args.direction == "AtoB"
    G = make_generator(args.netG, 3, 3, args.ngf)
    D = make_discriminator(args.netD, 6, args.ndf)
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    rule = linear_rule(args.n_epochs, args.n_epochs_decay)
    schedulers = [torch.optim.lr_scheduler.LambdaLR(o, lr_lambda=rule) for o in (opt_g, opt_d)]
    data = AlignedPairs(os.path.join(args.data, "train"), args.load_size, args.crop_size)
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch_size, shuffle=True, num_workers=args.workers)
    gan_loss = GanLoss("vanilla")
    os.makedirs(args.out, exist_ok=True)
    epochs = args.epochs or args.n_epochs + args.n_epochs_decay
    for epoch in range(1, epochs + 1):
        t0 = time.time()
        sums, steps, first = {}, 0, None
        for i, batch in enumerate(loader):
            real_a, real_b = (batch["A"], batch["B"]) if a_to_b else (batch["B"], batch["A"])
            losses = pix2pix_step(G, D, opt_g, opt_d, real_a, real_b, gan_loss)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v
            steps += 1
            if steps == args.warmup:
                first = time.time()
            if args.max_steps and steps >= args.max_steps:
                break
        seconds = time.time() - t0
        for s in schedulers:
            s.step()
        row = {"epoch": epoch, "seconds": seconds, "iterations": steps,
               "iterations_per_sec": steps / seconds,
               "timed_iterations_per_sec": (steps - args.warmup) / (time.time() - first) if first else None,
               "lr": opt_g.param_groups[0]["lr"], "threads": torch.get_num_threads()}
        row.update({k: v / steps for k, v in sums.items()})
        print(json.dumps(row), flush=True)
    torch.save(G.state_dict(), os.path.join(args.out, "latest_net_G.pth"))
    torch.save(D.state_dict(), os.path.join(args.out, "latest_net_D.pth"))


def test(args):
    import numpy as np
    torch.manual_seed(args.seed)
    G = make_generator(args.netG, 3, 3, args.ngf)
    G.load_state_dict(torch.load(args.weights, map_location="cpu"))
    if args.eval:
        G.eval()
    data = AlignedPairs(args.data, args.crop_size, args.crop_size, train=False)
    for sub in ("fake", "real"):
        os.makedirs(os.path.join(args.out, sub), exist_ok=True)
    a_to_b = args.direction == "AtoB"
    with torch.no_grad():
        for i in range(len(data)):
            item = data[i]
            real_a, real_b = (item["A"], item["B"]) if a_to_b else (item["B"], item["A"])
            fake = G(real_a.unsqueeze(0))[0]
            name = os.path.splitext(os.path.basename(item["path"]))[0] + ".png"
            for sub, t in (("fake", fake), ("real", real_b)):
                # [-1, 1] to [0, 1], then x * 255 + 0.5 truncated (save_image's rounding)
                b = t.add(1).div(2).clamp(0, 1).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
                Image.fromarray(b.permute(1, 2, 0).numpy()).save(os.path.join(args.out, sub, name))
    print(json.dumps({"translated": len(data), "out": args.out}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("train", "test"):
        p = sub.add_parser(name)
        p.add_argument("--data", required=True)
        p.add_argument("--out", required=True)
        p.add_argument("--netG", default="unet_256")
        p.add_argument("--ngf", type=int, default=64)
        p.add_argument("--direction", default="BtoA")
        p.add_argument("--crop-size", type=int, default=256)
        p.add_argument("--seed", type=int, default=0)
    p = sub.choices["train"]
    p.add_argument("--netD", default="basic")
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--load-size", type=int, default=286)
    p.add_argument("--lr", type=float, default=0.0002)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--n-epochs", type=int, default=100)
    p.add_argument("--n-epochs-decay", type=int, default=100)
    p.add_argument("--epochs", type=int, default=0, help="stop after this many epochs (default: all)")
    p.add_argument("--max-steps", type=int, default=0, help="iterations per epoch at most (timing runs)")
    p.add_argument("--warmup", type=int, default=3, help="iterations before the timed part of an epoch")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    p.add_argument("--workers", type=int, default=4, help="DataLoader worker processes (the reference's 4)")
    p = sub.choices["test"]
    p.add_argument("--weights", required=True)
    p.add_argument("--eval", action="store_true")
    args = ap.parse_args()
    train(args) if args.command == "train" else test(args)


if __name__ == "__main__":
    sys.exit(main())
