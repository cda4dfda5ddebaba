"""L1, PSNR and SSIM of images against their targets, in NumPy: the definitions Forgery's
C++ implements (src/forgery/eval/image_quality.h) and is golden-tested against
(tests/fixtures/make_fixtures.py), used by the benchmarks to score the Python program's
outputs with the same arithmetic. Images are float arrays in [0, 1], [C, H, W].

    l1    mean absolute difference
    psnr  10 log10(1 / MSE) in dB; identical images count as 100 dB
    ssim  Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, C1 = 0.01^2, C2 = 0.03^2, over the
          positions where the window fits, averaged over positions and channels
"""
import numpy as np

_g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5 ** 2))
WINDOW = np.outer(_g / _g.sum(), _g / _g.sum())


def _filter(img):
    view = np.lib.stride_tricks.sliding_window_view(img, (11, 11))
    return np.einsum("ijkl,kl->ij", view, WINDOW)


def l1(a, b):
    return float(np.abs(a - b).mean())


def psnr(a, b):
    mse = float(((a - b) ** 2).mean())
    return 100.0 if mse == 0 else -10 * np.log10(mse)


def ssim(a, b):
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    values = []
    for x, y in zip(a, b):
        mx, my = _filter(x), _filter(y)
        sxx, syy, sxy = _filter(x * x) - mx * mx, _filter(y * y) - my * my, _filter(x * y) - mx * my
        values.append((((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))).mean())
    return float(np.mean(values))
