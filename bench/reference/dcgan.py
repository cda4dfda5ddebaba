#!/usr/bin/python3
"""DCGAN (and its conditional form) in Python PyTorch: the networks of the PyTorch DCGAN
tutorial (SPEC.md section 2), generalised to 32x32 and to a one-hot class condition the way
Forgery's dcgan and cdcgan models do it, trained with Forgery's GAN recipe (D on the real and
on a fresh fake batch, then G on another fresh batch). It is the reference Forgery's DCGAN is
timed against (bench/dcgan_speed.py) and the source of its golden fixtures
(tests/fixtures/make_fixtures.py).

    /usr/bin/python3 bench/reference/dcgan.py --data DIR_WITH_MNIST_GZ --size 64 --steps 30 --threads 2

MNIST is resized once (torchvision's Resize on PIL images, as the tutorial's transform does)
and kept as one uint8 tensor, like Forgery, so both time the training step and not the loader.
Prints one JSON line with images per second (after --warmup steps).
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def layers_for(size):
    n = 0
    while (4 << n) < size:
        n += 1
    assert (4 << n) == size and size >= 16, "size must be a power of two, 16 or more"
    return n + 1


class Generator(nn.Module):
    def __init__(self, nz=100, ngf=64, nc=3, size=64, classes=0):
        super().__init__()
        n = layers_for(size)
        w = ngf << (n - 2)
        self.classes = classes
        layers = [nn.ConvTranspose2d(nz + classes, w, 4, 1, 0, bias=False), nn.BatchNorm2d(w), nn.ReLU(True)]
        for _ in range(1, n - 1):
            layers += [nn.ConvTranspose2d(w, w // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(w // 2), nn.ReLU(True)]
            w //= 2
        layers += [nn.ConvTranspose2d(w, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z, labels=None):
        if self.classes:
            z = torch.cat([z, F.one_hot(labels, self.classes).to(z.dtype)], 1)
        return self.main(z.view(z.size(0), z.size(1), 1, 1))


class Discriminator(nn.Module):
    def __init__(self, ndf=64, nc=3, size=64, classes=0):
        super().__init__()
        n = layers_for(size)
        self.classes = classes
        layers = [nn.Conv2d(nc + classes, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        w = ndf
        for _ in range(1, n - 1):
            layers += [nn.Conv2d(w, w * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(w * 2), nn.LeakyReLU(0.2, inplace=True)]
            w *= 2
        layers += [nn.Conv2d(w, 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, x, labels=None):
        if self.classes:
            maps = F.one_hot(labels, self.classes).to(x.dtype).view(x.size(0), self.classes, 1, 1)
            x = torch.cat([x, maps.expand(-1, -1, x.size(2), x.size(3))], 1)
        return self.main(x).view(-1, 1)


def weights_init(m):
    """The tutorial's initialisation."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


def make_networks(nz, ngf, ndf, nc, size, classes=0):
    G = Generator(nz, ngf, nc, size, classes)
    G.apply(weights_init)
    D = Discriminator(ndf, nc, size, classes)
    D.apply(weights_init)
    return G, D


def train_step(G, D, opt_g, opt_d, real, labels, z_d, z_g):
    """Forgery's GAN recipe (k = 1): D on real and fake (G frozen), then G (D's weights unchanged)."""
    b = real.size(0)
    ones, zeros = torch.ones(b, 1, device=real.device), torch.zeros(b, 1, device=real.device)
    with torch.no_grad():
        fake = G(z_d, labels)
    opt_d.zero_grad()
    out_real = D(real, labels)
    out_fake = D(fake, labels)
    loss_d = F.binary_cross_entropy(out_real, ones) + F.binary_cross_entropy(out_fake, zeros)
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad()
    loss_g = F.binary_cross_entropy(D(G(z_g, labels), labels), ones)
    loss_g.backward()
    opt_g.step()
    return loss_d.detach(), loss_g.detach(), out_real.detach(), out_fake.detach()


def load_mnist_resized(data_dir, size):
    """The MNIST training images from a folder of the four IDX .gz files, resized."""
    import os
    import tempfile
    import torchvision.datasets as datasets
    import torchvision.transforms as transforms
    from PIL import Image
    root = tempfile.mkdtemp(prefix="dcgan-mnist-")
    raw = os.path.join(root, "MNIST", "raw")  # torchvision's layout, linked to the given files
    os.makedirs(raw)
    for f in os.listdir(data_dir):
        os.symlink(os.path.abspath(os.path.join(data_dir, f)), os.path.join(raw, f))
    # download=True finds the linked .gz files (md5-checked) and only unpacks them.
    ds = datasets.MNIST(root=root, train=True, download=True)
    resize = transforms.Resize(size)
    import numpy as np
    images = np.stack([np.asarray(resize(Image.fromarray(x.numpy(), mode="L"))) for x in ds.data])
    return torch.from_numpy(images).unsqueeze(1), ds.targets.clone()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="folder with the four MNIST IDX .gz files")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--nz", type=int, default=100)
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--ndf", type=int, default=64)
    ap.add_argument("--classes", type=int, default=0, help="10: the conditional form")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="0: PyTorch's default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--tf32", choices=["default", "on", "off"], default="default",
                    help="CUDA: TF32 for matrix products and convolutions; default: PyTorch's own "
                         "(convolutions in TF32, matrix products in fp32)")
    args = ap.parse_args()
    if args.tf32 != "default":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32 == "on"
        torch.backends.cudnn.allow_tf32 = args.tf32 == "on"
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    images, labels = load_mnist_resized(args.data, args.size)
    images, labels = images.to(dev), labels.to(dev)
    G, D = make_networks(args.nz, args.ngf, args.ndf, 1, args.size, args.classes)
    G, D = G.to(dev), D.to(dev)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    G, D = G.to(memory_format=fmt), D.to(memory_format=fmt)
    opt_g = torch.optim.Adam(G.parameters(), lr=0.0002, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=0.0002, betas=(0.5, 0.999))
    perm = torch.randperm(images.size(0), device=dev)
    b = args.batch
    t0 = None
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        idx = perm[(step * b) % (images.size(0) - b):][:b]
        real = (images[idx].float() / 255 - 0.5) / 0.5
        real = real.contiguous(memory_format=fmt)
        lab = labels[idx] if args.classes else None
        train_step(G, D, opt_g, opt_d, real, lab, torch.randn(b, args.nz, device=dev), torch.randn(b, args.nz, device=dev))
    if dev.type == "cuda":
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    print(json.dumps({"program": "python", "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
                      "tf32_conv": torch.backends.cudnn.allow_tf32, "size": args.size, "batch": b, "steps": args.steps,
                      "threads": torch.get_num_threads(), "seconds": secs,
                      "images_per_sec": args.steps * b / secs}))


if __name__ == "__main__":
    main()
