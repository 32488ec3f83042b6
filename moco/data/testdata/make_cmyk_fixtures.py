"""Writes the CMYK and YCCK JPEG fixtures of decode_test.cc and PIL's RGB for each.

The expected RGB is what torchvision's loader gives: Image.open(path).convert("RGB").
See README.md for how to run it.
"""
import subprocess
import sys

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 61, 43  # not multiples of 8 or 16, so partial blocks are decoded too


def cmyk_pixels():
    # Smooth ink patterns with a few hard edges, and black (K) across its whole range.
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    c = 127.5 + 127.5 * np.sin(x / 5.0)
    m = 127.5 + 127.5 * np.cos(y / 4.0 + x / 9.0)
    yellow = np.where((x // 8 + y // 8) % 2 == 0, 230.0, 20.0)
    k = 255.0 * x / (WIDTH - 1) * (0.5 + 0.5 * np.sin(y / 3.0) ** 2)
    return np.clip(np.round(np.stack([c, m, yellow, k], -1)), 0, 255).astype(np.uint8)


def save_expected(jpeg, png):
    image = Image.open(jpeg)
    assert image.mode == "CMYK", image.mode
    image.convert("RGB").save(png)


def main(ycck_encode):
    cmyk = cmyk_pixels()
    # Pillow writes an Adobe marker (transform 0: CMYK) and stores the samples inverted.
    Image.fromarray(cmyk, "CMYK").save("cmyk.jpg", quality=90)
    save_expected("cmyk.jpg", "cmyk_pil_rgb.png")
    # Adobe files store ink inverted (255 is no ink), as Pillow does above.
    inverted = (255 - cmyk).tobytes()
    with open("ycck.jpg", "wb") as out:
        subprocess.run([ycck_encode, str(WIDTH), str(HEIGHT)], input=inverted, stdout=out,
                       check=True)
    assert Image.open("ycck.jpg").info["adobe_transform"] == 2
    save_expected("ycck.jpg", "ycck_pil_rgb.png")


if __name__ == "__main__":
    main(sys.argv[1])
