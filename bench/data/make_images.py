"""Writes the data loader benchmark's images: an ImageFolder tree of JPEGs
of ImageNet's typical size (500 x 375 and 375 x 500, a few others), quality
90 with 4:2:0 chroma as most of ImageNet, and content that compresses like
photographs (about 90 KB a file; ImageNet's training JPEGs average about
110 KB): colour fields, shapes with edges, texture at several scales and
grain. Written once: a folder with a complete stamp is kept.

    /usr/bin/python3 bench/data/make_images.py --count 1500 build/bench-data/images
"""
import argparse
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES = 10
SIZES = [(500, 375)] * 6 + [(375, 500)] * 3 + [(500, 333), (500, 400), (333, 500), (640, 480)]


def texture(rng, width, height, cell, amplitude):
    """Noise on a grid of `cell` pixels, smoothly enlarged."""
    small = rng.normal(0, amplitude, (max(height // cell, 2), max(width // cell, 2), 3))
    planes = [Image.fromarray(plane.astype(np.float32), "F").resize((width, height),
                                                                     Image.BICUBIC)
              for plane in np.moveaxis(small, -1, 0)]
    return np.stack([np.asarray(p) for p in planes], -1)


def photo(rng, width, height):
    """A colour field with coarse texture, shapes over it, then finer
    texture and grain over everything."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(40, 215, 3)
    slope = rng.normal(0, 0.15, (2, 3))
    image = base + x[..., None] * slope[0] + y[..., None] * slope[1]
    image = image + texture(rng, width, height, 64, 40)
    picture = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for _ in range(rng.integers(3, 9)):
        box = sorted(rng.integers(0, width, 2)), sorted(rng.integers(0, height, 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([box[0][0], box[1][0], box[0][1], box[1][1]], fill=colour)
    image = np.asarray(picture.filter(ImageFilter.GaussianBlur(0.8)), dtype=np.float32)
    for cell, amplitude in ((16, 24), (4, 18), (2, 14)):
        image = image + texture(rng, width, height, cell, amplitude)
    image = image + rng.normal(0, 9, (height, width, 3))
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def write(folder, count):
    """The images, unless `folder` holds them all already."""
    stamp = os.path.join(folder, ".complete-%d" % count)
    if os.path.exists(stamp):
        return
    rng = np.random.default_rng(2023)
    total = 0
    for i in range(count):
        class_folder = os.path.join(folder, "class%02d" % (i % CLASSES))
        os.makedirs(class_folder, exist_ok=True)
        width, height = SIZES[i % len(SIZES)]
        path = os.path.join(class_folder, "image%05d.JPEG" % i)
        photo(rng, width, height).save(path, quality=90)
        total += os.path.getsize(path)
    open(stamp, "w").close()
    print("make_images: %d JPEGs in %s, %.0f KB on average" % (count, folder,
                                                                 total / count / 1024))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("folder")
    args = parser.parse_args()
    write(args.folder, args.count)


if __name__ == "__main__":
    main()
