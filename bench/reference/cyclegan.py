#!/usr/bin/python3
"""CycleGAN in Python PyTorch, written for Forgery as the reference it is checked and timed
against: the networks, initialisation, losses, image pool, optimisers, schedule and data
transforms of the reference implementation users know (junyanz/pytorch-CycleGAN-and-pix2pix,
`--model cycle_gan`), with the same module names, so state_dicts move between the two
unchanged. The PatchGAN, initialisation, GAN losses and schedule are pix2pix.py's.

    /usr/bin/python3 bench/reference/cyclegan.py train --data DATA --out DIR [--netG resnet_6blocks
        --load-size 143 --crop-size 128] [--n-epochs 100 --n-epochs-decay 100] [--seed 0]
        [--threads N] [--workers 4] [--epochs E] [--max-steps N]
    /usr/bin/python3 bench/reference/cyclegan.py test --weights DIR/latest_net_G_A.pth --data DATA/testA
        --out OUT [--netG ...] [--crop-size 128]

DATA holds trainA/ and trainB/ (and testA/, testB/). An epoch walks A in a shuffled order and
draws B at random, max(|A|, |B|) iterations; each image is resized to load_size (PIL bicubic),
randomly cropped and flipped on its own. `train` prints one JSON line per epoch and saves
latest_net_{G_A,G_B,D_A,D_B}.pth; `test` translates a folder with one generator and writes
OUT/NAME.png, rounded as Forgery's PNG writer rounds.
"""
import argparse
import itertools
import json
import os
import random
import sys
import time

import torch
import torch.nn as nn
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pix2pix as p2p  # noqa: E402


class ResnetBlock(nn.Module):
    """x + (pad, 3x3 conv, norm, ReLU, [dropout], pad, 3x3 conv, norm)(x)."""

    def __init__(self, dim, norm="instance", dropout=False, padding="reflect"):
        super().__init__()
        bias = norm == "instance"
        pad = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d}.get(padding)
        p = 0 if pad else 1
        layers = ([pad(1)] if pad else []) + [nn.Conv2d(dim, dim, 3, padding=p, bias=bias), p2p.norm_layer(norm, dim),
                                              nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += ([pad(1)] if pad else []) + [nn.Conv2d(dim, dim, 3, padding=p, bias=bias), p2p.norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Reflection pad 3, 7x7 conv, two stride-2 3x3 convs, n_blocks residual blocks, two
    stride-2 transposed convs (output_padding 1), reflection pad 3, 7x7 conv, Tanh."""

    def __init__(self, input_nc, output_nc, ngf=64, norm="instance", dropout=False, n_blocks=9, padding="reflect"):
        super().__init__()
        bias = norm == "instance"
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, padding=0, bias=bias), p2p.norm_layer(norm, ngf),
                  nn.ReLU(True)]
        for i in range(2):
            m = 2 ** i
            layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, stride=2, padding=1, bias=bias),
                       p2p.norm_layer(norm, ngf * m * 2), nn.ReLU(True)]
        for _ in range(n_blocks):
            layers.append(ResnetBlock(ngf * 4, norm, dropout, padding))
        for i in range(2):
            m = 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       p2p.norm_layer(norm, ngf * m // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def make_generator(name, input_nc, output_nc, ngf=64, norm="instance", dropout=False, gain=0.02):
    blocks = int(name[len("resnet_"):-len("blocks")])  # resnet_9blocks, resnet_6blocks, resnet_2blocks
    return p2p.init_weights(ResnetGenerator(input_nc, output_nc, ngf, norm, dropout, blocks), gain)


class ImagePool:
    """The last pool_size generated images: until full, each new image is stored and returned;
    then with probability 1/2 a random stored image is returned and the new one takes its
    place, else the new one is returned. `draw` gives the uniform numbers and random indices
    (the reference uses Python's random module)."""

    def __init__(self, size, uniform=random.uniform, randint=random.randint):
        self.size, self.images, self.uniform, self.randint = size, [], uniform, randint

    def query(self, images):
        if self.size == 0:
            return images
        out = []
        for image in images:
            image = image.detach().unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif self.uniform(0, 1) > 0.5:
                i = self.randint(0, self.size - 1)
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


def cyclegan_step(nets, opt_g, opt_d, real_a, real_b, pools, gan_loss, lambda_a=10.0, lambda_b=10.0, lambda_idt=0.5):
    """One iteration: both generators (D frozen), then both discriminators on pooled fakes."""
    G_A, G_B, D_A, D_B = nets
    fake_b = G_A(real_a)
    rec_a = G_B(fake_b)
    fake_a = G_B(real_b)
    rec_b = G_A(fake_a)
    for D in (D_A, D_B):
        p2p.set_requires_grad(D, False)
    opt_g.zero_grad()
    l1 = nn.functional.l1_loss
    if lambda_idt > 0:
        loss_idt_a = l1(G_A(real_b), real_b) * lambda_b * lambda_idt
        loss_idt_b = l1(G_B(real_a), real_a) * lambda_a * lambda_idt
    else:
        loss_idt_a = loss_idt_b = torch.zeros(())
    loss_g_a = gan_loss(D_A(fake_b), True)
    loss_g_b = gan_loss(D_B(fake_a), True)
    loss_cycle_a = l1(rec_a, real_a) * lambda_a
    loss_cycle_b = l1(rec_b, real_b) * lambda_b
    (loss_g_a + loss_g_b + loss_cycle_a + loss_cycle_b + loss_idt_a + loss_idt_b).backward()
    opt_g.step()
    for D in (D_A, D_B):
        p2p.set_requires_grad(D, True)
    opt_d.zero_grad()

    def d_loss(D, real, fake):
        loss = (gan_loss(D(real), True) + gan_loss(D(fake.detach()), False)) * 0.5
        loss.backward()
        return loss

    loss_d_a = d_loss(D_A, real_b, pools[1].query(fake_b))
    loss_d_b = d_loss(D_B, real_a, pools[0].query(fake_a))
    opt_d.step()
    return {"D_A": loss_d_a.item(), "G_A": loss_g_a.item(), "cycle_A": loss_cycle_a.item(),
            "idt_A": float(loss_idt_a), "D_B": loss_d_b.item(), "G_B": loss_g_b.item(),
            "cycle_B": loss_cycle_b.item(), "idt_B": float(loss_idt_b)}


class UnalignedImages(torch.utils.data.Dataset):
    def __init__(self, folder_a, folder_b, load_size, crop_size):
        self.a, self.b = p2p.image_files(folder_a), p2p.image_files(folder_b)
        self.load, self.crop = load_size, crop_size

    def __len__(self):
        return max(len(self.a), len(self.b))

    def transform(self, path):
        img = Image.open(path).convert("RGB").resize((self.load, self.load), Image.BICUBIC)
        x = random.randint(0, max(0, self.load - self.crop))
        y = random.randint(0, max(0, self.load - self.crop))
        img = img.crop((x, y, x + self.crop, y + self.crop)) if self.load > self.crop else img
        if random.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        return p2p.to_tensor(img)

    def __getitem__(self, i):
        a = self.a[i % len(self.a)]
        b = self.b[random.randint(0, len(self.b) - 1)]
        return {"A": self.transform(a), "B": self.transform(b)}


def train(args):
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    nets = (make_generator(args.netG, 3, 3, args.ngf), make_generator(args.netG, 3, 3, args.ngf),
            p2p.make_discriminator("basic", 3, args.ndf, norm="instance"),
            p2p.make_discriminator("basic", 3, args.ndf, norm="instance"))
    opt_g = torch.optim.Adam(itertools.chain(nets[0].parameters(), nets[1].parameters()), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(itertools.chain(nets[2].parameters(), nets[3].parameters()), lr=args.lr, betas=(0.5, 0.999))
    rule = p2p.linear_rule(args.n_epochs, args.n_epochs_decay)
    schedulers = [torch.optim.lr_scheduler.LambdaLR(o, lr_lambda=rule) for o in (opt_g, opt_d)]
    data = UnalignedImages(os.path.join(args.data, "trainA"), os.path.join(args.data, "trainB"), args.load_size,
                           args.crop_size)
    loader = torch.utils.data.DataLoader(data, batch_size=1, shuffle=True, num_workers=args.workers)
    pools = (ImagePool(args.pool_size), ImagePool(args.pool_size))
    gan_loss = p2p.GanLoss("lsgan")
    os.makedirs(args.out, exist_ok=True)
    for epoch in range(1, (args.epochs or args.n_epochs + args.n_epochs_decay) + 1):
        t0 = time.time()
        sums, steps = {}, 0
        for batch in loader:
            for k, v in cyclegan_step(nets, opt_g, opt_d, batch["A"], batch["B"], pools, gan_loss).items():
                sums[k] = sums.get(k, 0.0) + v
            steps += 1
            if args.max_steps and steps >= args.max_steps:
                break
        seconds = time.time() - t0
        for s in schedulers:
            s.step()
        row = {"epoch": epoch, "seconds": seconds, "iterations": steps, "iterations_per_sec": steps / seconds,
               "lr": opt_g.param_groups[0]["lr"], "threads": torch.get_num_threads()}
        row.update({k: v / steps for k, v in sums.items()})
        print(json.dumps(row), flush=True)
    for name, net in zip(("G_A", "G_B", "D_A", "D_B"), nets):
        torch.save(net.state_dict(), os.path.join(args.out, f"latest_net_{name}.pth"))


def test(args):
    G = make_generator(args.netG, 3, 3, args.ngf)
    G.load_state_dict(torch.load(args.weights, map_location="cpu"))
    os.makedirs(args.out, exist_ok=True)
    with torch.no_grad():
        for path in p2p.image_files(args.data):
            img = Image.open(path).convert("RGB").resize((args.crop_size, args.crop_size), Image.BICUBIC)
            fake = G(p2p.to_tensor(img).unsqueeze(0))[0]
            b = fake.add(1).div(2).clamp(0, 1).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
            name = os.path.splitext(os.path.basename(path))[0] + ".png"
            Image.fromarray(b.permute(1, 2, 0).numpy()).save(os.path.join(args.out, name))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("train", "test"):
        p = sub.add_parser(name)
        p.add_argument("--data", required=True)
        p.add_argument("--out", required=True)
        p.add_argument("--netG", default="resnet_9blocks")
        p.add_argument("--ngf", type=int, default=64)
        p.add_argument("--crop-size", type=int, default=256)
    p = sub.choices["train"]
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--load-size", type=int, default=286)
    p.add_argument("--lr", type=float, default=0.0002)
    p.add_argument("--pool-size", type=int, default=50)
    p.add_argument("--n-epochs", type=int, default=100)
    p.add_argument("--n-epochs-decay", type=int, default=100)
    p.add_argument("--epochs", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--workers", type=int, default=4)
    sub.choices["test"].add_argument("--weights", required=True)
    args = ap.parse_args()
    train(args) if args.command == "train" else test(args)


if __name__ == "__main__":
    sys.exit(main())
