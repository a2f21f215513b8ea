"""rlkd's image folders against torchvision's ImageFolder with PIL.

A folder of JPEG and PNG files written here (PIL and a small PNG writer:
RGB, grey, CMYK and YCCK JPEGs at three chroma subsamplings and
progressive; RGB, grey, palette, alpha, 1-, 2- and 16-bit PNGs) is read by
rlkd.Dataset.open_folder + rlkd.Loader and by torchvision's ImageFolder
with the matching transforms, and they must agree exactly (tolerance 0,
the float32 tensors equal bit for bit):

- class names and order, labels, batch shapes;
- decoding: every file through the identity transform against PIL's
  Image.open(path).convert("RGB");
- evaluation: Resize(resize) + CenterCrop(crop) + ToTensor + Normalize for
  several sizes, a crop larger than the resized image included;
- training: rlkd's RandomResizedCrop window and flip are recomputed here
  from its documented draws (Philox-4x32-10, include/rlkd.h and
  lib/data/transform.c), and torchvision's resized_crop + hflip of that
  window + ToTensor + Normalize must give rlkd's batch.

Both decode with libjpeg-turbo at its default settings and resize with
PIL's antialiased bilinear filter (rlkd reimplements Pillow's fixed-point
Resample.c), so nothing is left to a tolerance.
"""
import ctypes
import ctypes.util
import math
import struct
import zlib

import numpy as np
import pytest

import rlkd

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
Image = pytest.importorskip("PIL.Image")
from torchvision import datasets  # noqa: E402
from torchvision import transforms as T  # noqa: E402
from torchvision.transforms import functional as F  # noqa: E402

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
WORD = 0xFFFFFFFF


# ---- images -----------------------------------------------------------------

def natural(rng, height, width, channels=3):
    """Gradients, a disc and noise: JPEG keeps some detail, resizing has
    edges to get wrong."""
    y, x = np.mgrid[0:height, 0:width]
    planes = [x * 255.0 / max(width - 1, 1), y * 255.0 / max(height - 1, 1),
              128 + 100 * np.sin((x + 2 * y) / 7.0), (x * y) % 256.0][:channels]
    image = np.stack(planes, -1)
    disc = (x - width / 3) ** 2 + (y - height / 2) ** 2 < (min(height, width) / 4) ** 2
    image[disc] = 255 - image[disc]
    image += rng.normal(0, 20, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def png_bytes(width, height, color_type, bit_depth, rows, chunks=()):
    """A PNG of raw rows (bytes each, filter 0) with extra chunks before
    IDAT: the bit depths and colour types PIL cannot write."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & WORD))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    data = b"".join(b"\0" + row for row in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
            b"".join(chunk(k, v) for k, v in chunks) +
            chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b""))


def ycck_jpeg(cmyk):
    """A YCCK JPEG of CMYK pixels through TurboJPEG (what Photoshop writes
    for CMYK at high quality), or None without libturbojpeg."""
    name = ctypes.util.find_library("turbojpeg")
    if not name:
        return None
    tj = ctypes.CDLL(name)
    tj.tjInitCompress.restype = ctypes.c_void_p
    tj.tjCompress2.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                               ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                               ctypes.POINTER(ctypes.c_ulong), ctypes.c_int, ctypes.c_int,
                               ctypes.c_int]
    tj.tjFree.argtypes = [ctypes.c_void_p]
    tj.tjDestroy.argtypes = [ctypes.c_void_p]
    handle = tj.tjInitCompress()
    height, width, _ = cmyk.shape
    pixels = np.ascontiguousarray(cmyk)
    out, size = ctypes.c_void_p(), ctypes.c_ulong()
    tjpf_cmyk, tjsamp_420 = 11, 2
    failed = tj.tjCompress2(handle, pixels.ctypes.data, width, 0, height, tjpf_cmyk,
                            ctypes.byref(out), ctypes.byref(size), tjsamp_420, 90, 0)
    data = None if failed else ctypes.string_at(out, size.value)
    tj.tjFree(out)
    tj.tjDestroy(handle)
    return data


def write_formats(folder, rng, side):
    """Square images of every format PIL reads differently, side x side."""
    folder.mkdir(parents=True)
    rgb = natural(rng, side, side)
    grey = natural(rng, side, side, 1)[:, :, 0]
    Image.fromarray(rgb).save(folder / "jpeg_420.jpg", quality=90)
    Image.fromarray(rgb).save(folder / "jpeg_422.jpg", quality=85, subsampling=1)
    Image.fromarray(rgb).save(folder / "jpeg_444.JPEG", quality=95, subsampling=0)
    Image.fromarray(rgb).save(folder / "jpeg_progressive.jpeg", quality=90, progressive=True)
    Image.fromarray(grey).save(folder / "jpeg_grey.jpg", quality=90)
    cmyk = natural(rng, side, side, 4)
    Image.fromarray(cmyk, "CMYK").save(folder / "jpeg_cmyk.jpg", quality=90)
    ycck = ycck_jpeg(cmyk)
    if ycck:
        (folder / "jpeg_ycck.jpg").write_bytes(ycck)
    Image.fromarray(rgb).save(folder / "png_rgb.png")
    Image.fromarray(grey).save(folder / "png_grey.png")
    Image.fromarray(np.dstack([rgb, grey])).save(folder / "png_rgba.png")
    Image.fromarray(np.dstack([grey, 255 - grey])).save(folder / "png_grey_alpha.png")
    Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=37).save(
        folder / "png_palette.png", transparency=3)
    Image.fromarray(grey > 128).save(folder / "png_1bit.png")
    wide = rng.integers(0, 65536, (side, side, 3)).astype(">u2")
    (folder / "png_rgb16.png").write_bytes(
        png_bytes(side, side, 2, 16, [row.tobytes() for row in wide]))
    # Mostly below 256, where PIL's clipping of 16-bit grey is visible.
    grey16 = (rng.integers(0, 320, (side, side)) * (1 + (rng.random((side, side)) > 0.9) * 100))
    (folder / "png_grey16.png").write_bytes(
        png_bytes(side, side, 0, 16, [row.astype(">u2").tobytes() for row in grey16]))
    grey_alpha16 = rng.integers(0, 65536, (side, side, 2)).astype(">u2")
    (folder / "png_grey_alpha16.png").write_bytes(
        png_bytes(side, side, 4, 16, [row.tobytes() for row in grey_alpha16]))
    two_bit = rng.integers(0, 4, (side, side))
    packed = [bytes(np.packbits(np.unpackbits(row.astype(np.uint8)[:, None], axis=1)[:, 6:]))
              for row in two_bit]
    (folder / "png_grey2.png").write_bytes(png_bytes(side, side, 0, 2, packed))
    (folder / "png_rgb_trns.png").write_bytes(
        png_bytes(side, side, 2, 8, [row.tobytes() for row in rgb],
                  [(b"tRNS", struct.pack(">HHH", *map(int, rgb[0, 0])))]))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Classes in byte order: "Zebra" < "ant" < "bee" (upper case first)."""
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(7)
    write_formats(root / "Zebra", rng, 29)
    for name, sizes in (("ant", [(375, 500), (61, 47), (13, 300), (224, 224)]),
                        ("bee", [(500, 333), (90, 120), (256, 256), (40, 41)])):
        (root / name).mkdir()
        for i, (height, width) in enumerate(sizes):
            image = Image.fromarray(natural(rng, height, width))
            if i % 2:
                image.save(root / name / ("%d.png" % i))
            else:
                image.save(root / name / ("%d.jpg" % i), quality=90)
    return root


@pytest.fixture(scope="module")
def ctx():
    return rlkd.Context()


def torchvision_set(root, transform):
    return datasets.ImageFolder(str(root), transform)


def batch(ctx, dataset, **options):
    """The first epoch's images and labels as arrays, all in one batch."""
    loader = rlkd.Loader(ctx, dataset, batch_size=len(dataset), shuffle=0, mean=MEAN,
                         std=STD, **options)
    images, labels = next(loader.epoch(0))
    return images.numpy(), labels.numpy()


def assert_same(got, want, what):
    assert got.shape == want.shape, what
    differ = got != want
    assert not differ.any(), "%s: %d values differ, by up to %g" % (
        what, differ.sum(), np.abs(got - want).max())


# ---- classes and decoding ---------------------------------------------------

def test_classes_labels_and_decoding_match_pil(ctx, folder):
    ours = rlkd.Dataset.open_folder(folder, bad_files="fail", verify="decode")
    theirs = torchvision_set(folder, None)
    assert ours.class_names == theirs.classes == ["Zebra", "ant", "bee"]
    assert len(ours) == len(theirs)
    assert ours.bad_files == []
    formats = folder / "Zebra"
    side = 29
    decoded, labels = batch(ctx, rlkd.Dataset.open_folder(formats.parent),
                            crop_size=side, resize_size=side)
    assert labels.tolist() == [label for _, label in theirs.samples]
    for index, (path, _) in enumerate(theirs.samples[:len(list(formats.iterdir()))]):
        want = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
        want = (want - np.float32(MEAN)) / np.float32(STD)
        assert_same(decoded[index], want.transpose(2, 0, 1).astype(np.float32), path)


def test_the_fixture_takes_pils_own_conversions(folder):
    """The decoding test meets the two conversions PIL makes its own way:
    a CMYK JPEG (Adobe-inverted), and 16-bit grey above 255 (clipped)."""
    cmyk = Image.open(folder / "Zebra" / "jpeg_cmyk.jpg")
    assert cmyk.mode == "CMYK"
    grey16 = Image.open(folder / "Zebra" / "png_grey16.png")
    assert np.asarray(grey16).max() > 255 and grey16.convert("RGB").getextrema()[0][1] == 255


# ---- the evaluation transform -----------------------------------------------

@pytest.mark.parametrize("resize,crop", [(256, 224), (36, 32), (300, 300), (20, 24), (17, 9)])
def test_resize_and_center_crop_match_torchvision(ctx, folder, resize, crop):
    ours, labels = batch(ctx, rlkd.Dataset.open_folder(folder), crop_size=crop,
                         resize_size=resize)
    transform = T.Compose([T.Resize(resize), T.CenterCrop(crop), T.ToTensor(),
                           T.Normalize(MEAN, STD)])
    theirs = torchvision_set(folder, transform)
    want = np.stack([theirs[i][0].numpy() for i in range(len(theirs))])
    assert labels.tolist() == [theirs[i][1] for i in range(len(theirs))]
    assert_same(ours, want, "Resize(%d) + CenterCrop(%d)" % (resize, crop))


# ---- the training transform -------------------------------------------------

def philox4x32(seed, stream, index):
    """lib/core/philox.h's Philox-4x32-10."""
    c0, c1, c2, c3 = index & WORD, index >> 32, stream & WORD, stream >> 32
    k0, k1 = seed & WORD, seed >> 32
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & WORD, (p0 >> 32) ^ c3 ^ k1, p0 & WORD
        k0, k1 = (k0 + 0x9E3779B9) & WORD, (k1 + 0xBB67AE85) & WORD
    return c0, c1, c2, c3


def rlkd_window(height, width, scale, ratio, seed, epoch, image):
    """(top, left, height, width, flip) of rlkd's RandomResizedCrop and
    flip of one image: torchvision's get_params on rlkd's draws (16 per
    image, attempts 0-9, the flip 10, in stream 2 * epoch + 2); the options
    are float32 in the library."""
    stream = 2 * epoch + 2
    scale = [float(np.float32(s)) for s in scale]
    log_ratio = [math.log(float(np.float32(r))) for r in ratio]
    area = float(height * width)
    window = None
    for attempt in range(10):
        r = philox4x32(seed, stream, 16 * image + attempt)
        target = area * (scale[0] + (scale[1] - scale[0]) * (r[0] / 2.0 ** 32))
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * (r[1] / 2.0 ** 32))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            window = (r[2] % (height - h + 1), r[3] % (width - w + 1), h, w)
            break
    if window is None:
        in_ratio, low, high = width / height, float(np.float32(ratio[0])), float(np.float32(ratio[1]))
        w, h = width, height
        if in_ratio < low:
            h = round(w / low)
        elif in_ratio > high:
            w = round(h * high)
        window = ((height - h) // 2, (width - w) // 2, h, w)
    flip = philox4x32(seed, stream, 16 * image + 10)[0] >> 31
    return window + (flip,)


@pytest.mark.parametrize("crop,scale,ratio,epoch", [
    (224, (0.08, 1.0), (3 / 4, 4 / 3), 0),
    (32, (0.08, 1.0), (3 / 4, 4 / 3), 1),
    (64, (0.5, 2.0), (0.2, 5.0), 2),    # windows upscaled, fallbacks
])
def test_random_resized_crop_matches_torchvision_on_the_same_window(ctx, folder, crop, scale,
                                                                    ratio, epoch):
    seed = 12345
    dataset = rlkd.Dataset.open_folder(folder)
    loader = rlkd.Loader(ctx, dataset, batch_size=len(dataset), shuffle=0, seed=seed,
                         random_resized_crop=1, horizontal_flip=1, crop_size=crop,
                         scale_min=scale[0], scale_max=scale[1], ratio_min=ratio[0],
                         ratio_max=ratio[1], mean=MEAN, std=STD, workers=2)
    ours = next(loader.epoch(epoch))[0].numpy()
    theirs = torchvision_set(folder, None)
    flips = set()
    for index, (path, _) in enumerate(theirs.samples):
        image = theirs.loader(path)
        top, left, height, width, flip = rlkd_window(image.height, image.width, scale, ratio,
                                                     seed, epoch, index)
        flips.add(flip)
        picture = F.resized_crop(image, top, left, height, width, [crop, crop])
        if flip:
            picture = F.hflip(picture)
        want = F.normalize(F.to_tensor(picture), MEAN, STD).numpy()
        assert_same(ours[index], want, "%s: window %s flip %d" % (
            path, (top, left, height, width), flip))
    assert flips == {0, 1}


# ---- bad files and list files -----------------------------------------------

def test_bad_files_are_reported_and_list_files_read(ctx, folder, tmp_path):
    root = tmp_path / "bad"
    (root / "a").mkdir(parents=True)
    (root / "a" / "text.jpg").write_text("not a JPEG")
    (root / "b").mkdir()
    Image.fromarray(natural(np.random.default_rng(1), 20, 30)).save(root / "b" / "good.png")
    skipped = rlkd.Dataset.open_folder(root)
    assert len(skipped) == 1 and skipped.class_names == ["a", "b"]
    assert [(p.split("/")[-1], "not a JPEG or PNG" in why) for p, why in skipped.bad_files] == \
        [("text.jpg", True)]
    with pytest.raises(rlkd.Error, match="text.jpg: not a JPEG or PNG"):
        rlkd.Dataset.open_folder(root, bad_files="fail")
    (tmp_path / "list.txt").write_text("ant/0.jpg 4\nbee/1.png 1\n")
    listed = rlkd.Dataset.open_list(tmp_path / "list.txt", folder)
    assert len(listed) == 2 and listed.classes == 5 and listed.class_names == [None] * 5
    _, labels = batch(ctx, listed, crop_size=8, resize_size=8)
    assert labels.tolist() == [4, 1]
    with pytest.raises(ValueError, match="verify"):
        rlkd.Dataset.open_folder(root, verify="all")
