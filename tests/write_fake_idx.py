"""Writes a small fake Fashion-MNIST (gzip IDX, 28x28) for the shell tests.

usage: write_fake_idx.py DIR [CLASSES [TRAIN [TEST]]]   (10, 400, 100)

Class c is a bright band at row 2 + 5 (c / 2), across the width (even c) or
in the middle (odd c), over noise: bands survive the training crops and
flips, so a small network learns them in a few epochs. Seeded: the same
files every time.
"""
import gzip
import random
import struct
import sys


def write(folder, prefix, count, classes, seed):
    rng = random.Random(seed)
    images, labels = bytearray(), bytearray()
    for i in range(count):
        c = i % classes
        image = bytearray(rng.randrange(0, 60) for _ in range(28 * 28))
        top = 2 + 5 * (c // 2)
        left, right = (0, 28) if c % 2 == 0 else (10, 18)
        for row in range(top, top + 4):
            for col in range(left, right):
                image[row * 28 + col] = rng.randrange(200, 256)
        images += image
        labels.append(c)
    with gzip.open("%s/%s-images-idx3-ubyte.gz" % (folder, prefix), "wb") as f:
        f.write(struct.pack(">IIII", 2051, count, 28, 28) + bytes(images))
    with gzip.open("%s/%s-labels-idx1-ubyte.gz" % (folder, prefix), "wb") as f:
        f.write(struct.pack(">II", 2049, count) + bytes(labels))


def main():
    folder = sys.argv[1]
    classes, train, test = (list(map(int, sys.argv[2:5])) + [10, 400, 100][len(sys.argv[2:5]):])
    write(folder, "train", train, classes, 1)
    write(folder, "t10k", test, classes, 2)


if __name__ == "__main__":
    main()
