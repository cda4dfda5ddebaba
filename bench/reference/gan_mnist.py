#!/usr/bin/python3
"""The chapter's GAN on MNIST in Python (SPEC.md section 1), the reference Forgery is timed
and compared against. It is the seed's program: torchvision MNIST with ToTensor +
Normalize((0.5,), (0.5,)), a DataLoader with batch 512, shuffle and 4 workers, the seed's
Generator and Discriminator, two Adam optimisers (lr 0.0002), BCELoss, k = 1, a grid saved
every epoch. Two of the seed's slips are fixed so that it can run and be compared: loss sums
are detached (the seed keeps their autograd history and runs out of memory), and the epoch
mean divides by the number of batches. Added: per-epoch timing as JSON lines on stdout, and
--sample-epochs (generated images as IDX files for the quality comparisons, drawn from the
global generator, so a seeded run's later noise differs from the seed's program there).
Different from the seed's program in the pictures only: the grid draws a fresh batch of 64
(sample_size) each epoch, not of the last batch's size, and maps the whole grid, padding
included, from [-1, 1] (grey padding); the loss plot, the final figures and the prints of the
networks are left out.

    /usr/bin/python3 bench/reference/gan_mnist.py --data DIR_WITH_MNIST_GZ --epochs 2 --out OUT
"""
import argparse
import json
import os
import time

import torch
import torch.nn as nn
import torch.optim as optim
import torchvision.datasets as datasets
import torchvision.transforms as transforms
from torch.utils.data import DataLoader
from torchvision.utils import make_grid, save_image
from tqdm import tqdm


class Generator(nn.Module):
    def __init__(self, nz):
        super(Generator, self).__init__()
        self.nz = nz
        self.main = nn.Sequential(
            nn.Linear(self.nz, 256), nn.LeakyReLU(0.2),
            nn.Linear(256, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 1024), nn.LeakyReLU(0.2),
            nn.Linear(1024, 784), nn.Tanh())

    def forward(self, x):
        return self.main(x).view(-1, 1, 28, 28)


class Discriminator(nn.Module):
    def __init__(self):
        super(Discriminator, self).__init__()
        self.n_input = 784
        self.main = nn.Sequential(
            nn.Linear(self.n_input, 1024), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(1024, 512), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(256, 1), nn.Sigmoid())

    def forward(self, x):
        x = x.view(-1, 784)
        return self.main(x)


def write_samples(generator, nz, device, n, path):
    """n generated images as an MNIST-format IDX file (8-bit, save_image's rounding)."""
    import struct
    with torch.no_grad():
        parts = [generator(torch.randn(min(1000, n - s), nz).to(device)).cpu() for s in range(0, n, 1000)]
    images = ((torch.cat(parts) + 1) / 2).mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).squeeze(1)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, images.shape[0], 28, 28))
        f.write(images.numpy().tobytes())
    os.replace(path + ".tmp", path)


def mnist_root(data_dir, out):
    """torchvision wants ROOT/MNIST/raw/<files>; link the given files there."""
    raw = os.path.join(out, "torchvision-root", "MNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    for f in os.listdir(data_dir):
        dst = os.path.join(raw, f)
        if not os.path.exists(dst):
            os.symlink(os.path.abspath(os.path.join(data_dir, f)), dst)
    return os.path.join(out, "torchvision-root")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: PyTorch's choice)")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--sample-epochs", default="", help="comma-separated epochs after which to write samples")
    ap.add_argument("--samples", type=int, default=10000, help="images per sample file (IDX, 8-bit)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.seed is not None:
        torch.manual_seed(args.seed)
    os.makedirs(os.path.join(args.out, "img"), exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    batch_size, epochs, sample_size, nz, k = 512, args.epochs, 64, 128, 1

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    train_dataset = datasets.MNIST(root=mnist_root(args.data, args.out), train=True, transform=transform,
                                   download=True)
    train_loader = DataLoader(train_dataset, batch_size=batch_size, shuffle=True, num_workers=args.workers)

    generator = Generator(nz).to(device)
    discriminator = Discriminator().to(device)
    optim_g = optim.Adam(generator.parameters(), lr=0.0002)
    optim_d = optim.Adam(discriminator.parameters(), lr=0.0002)
    criterion = nn.BCELoss()

    def train_discriminator(optimizer, data_real, data_fake):
        b_size = data_real.size(0)
        real_label = torch.ones(b_size, 1).to(device)
        fake_label = torch.zeros(b_size, 1).to(device)
        optimizer.zero_grad()
        output_real = discriminator(data_real)
        loss_real = criterion(output_real, real_label)
        output_fake = discriminator(data_fake)
        loss_fake = criterion(output_fake, fake_label)
        loss_real.backward()
        loss_fake.backward()
        optimizer.step()
        return loss_real + loss_fake

    def train_generator(optimizer, data_fake):
        b_size = data_fake.size(0)
        real_label = torch.ones(b_size, 1).to(device)
        optimizer.zero_grad()
        output = discriminator(data_fake)
        loss = criterion(output, real_label)
        loss.backward()
        optimizer.step()
        return loss

    generator.train()
    discriminator.train()
    print(json.dumps({"event": "start", "threads": torch.get_num_threads(), "device": str(device),
                      "torch": torch.__version__}), flush=True)
    for epoch in range(epochs):
        loss_g = 0.0
        loss_d = 0.0
        t0 = time.perf_counter()
        for idx, data in tqdm(enumerate(train_loader), total=int(len(train_dataset) / train_loader.batch_size)):
            image, _ = data
            image = image.to(device)
            b_size = len(image)
            for step in range(k):
                data_fake = generator(torch.randn(b_size, nz).to(device)).detach()
                data_real = image
                loss_d += train_discriminator(optim_d, data_real, data_fake).detach()
            data_fake = generator(torch.randn(b_size, nz).to(device))
            loss_g += train_generator(optim_g, data_fake).detach()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        generated_img = generator(torch.randn(sample_size, nz).to(device)).cpu().detach()
        generated_img = make_grid(generated_img)
        save_image(generated_img * 0.5 + 0.5, os.path.join(args.out, "img", f"gen_img{epoch}.png"))
        n_batches = idx + 1
        if str(epoch + 1) in args.sample_epochs.split(","):
            write_samples(generator, nz, device, args.samples, os.path.join(args.out, f"samples_epoch{epoch + 1}.idx"))
        print(json.dumps({"epoch": epoch + 1, "loss_g": float(loss_g) / n_batches, "loss_d": float(loss_d) / n_batches,
                          "seconds": seconds, "images_per_sec": len(train_dataset) / seconds}), flush=True)
    torch.save(generator.state_dict(), os.path.join(args.out, "generator.pt"))
    torch.save(discriminator.state_dict(), os.path.join(args.out, "discriminator.pt"))


if __name__ == "__main__":
    main()
