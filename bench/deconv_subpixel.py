#!/usr/bin/python3
"""Tried for speed and not kept: a stride-2, 4x4 transposed convolution (the U-Net decoder's) as four
2x2 convolutions on the padded input and a pixel shuffle, which would run on oneDNN instead of
LibTorch 1.13's slow_conv_transpose2d. Same result (relative error ~5e-7), forward and backward
timed at the U-Net's layer shapes, 2 threads.

    /usr/bin/python3 bench/deconv_subpixel.py
"""
import time, torch, torch.nn.functional as F
torch.set_num_threads(2)
def deconv_sub(x, W):
    N, C, H, Wd = x.shape
    xp = F.pad(x, (1, 1, 1, 1))
    taps = ([3, 1], [2, 0])
    outs = []
    for r in (0, 1):
        for s in (0, 1):
            K = W[:, :, taps[r]][:, :, :, taps[s]].permute(1, 0, 2, 3)
            outs.append(F.conv2d(xp[:, :, r:r + H + 1, s:s + Wd + 1], K))
    y = torch.stack(outs, 2).reshape(N, -1, H, Wd)
    return F.pixel_shuffle(y, 2)
for (C, O, H) in [(1024, 512, 8), (1024, 256, 16), (512, 128, 32), (256, 64, 64), (128, 3, 128)]:
    x = torch.randn(1, C, H, H, requires_grad=True); W = torch.randn(C, O, 4, 4, requires_grad=True)
    ref = F.conv_transpose2d(x, W, stride=2, padding=1)
    sub = deconv_sub(x, W)
    err = (ref - sub).abs().max().item() / ref.abs().max().item()
    def bench(f):
        for _ in range(2): f().sum().backward()
        t = time.perf_counter()
        for _ in range(5): f().sum().backward()
        return (time.perf_counter() - t) / 5 * 1e3
    a = bench(lambda: F.conv_transpose2d(x, W, stride=2, padding=1)); b = bench(lambda: deconv_sub(x, W))
    print(f"{C}->{O} {H}x{H}: rel err {err:.1e}; transposed {a:.1f} ms, sub-pixel {b:.1f} ms (fwd+bwd)")
