"""Data sets of 8-bit images and the loaders that batch them (L3)."""
from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ._core import Handle, Tensor
from ._ffi import FolderOptions, LoaderOptions, fill, initialized, lib

if TYPE_CHECKING:
    import numpy.typing as npt

    from ._core import Context, PathLike, Pointer


#: rlkd_bad_files and rlkd_verify by name (open_folder's and open_list's options).
BAD_FILES = {"skip": 0, "fail": 1}
VERIFY = {"none": 0, "header": 1, "decode": 2}


def _folder_options(bad_files: str, verify: str) -> FolderOptions:
    options = initialized(FolderOptions)
    fill(options, {"bad_files": bad_files, "verify": verify},
         {"bad_files": BAD_FILES, "verify": VERIFY})
    return options


class Dataset(Handle):
    """Labelled 8-bit images (CHW) held in host memory, or JPEG and PNG
    files that a Loader decodes (open_folder, open_list).

        train = rlkd.Dataset.load_idx("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
        train, validation = train.split(5000, seed=1)
        data = rlkd.Dataset.from_numpy(images_uint8_nchw, labels)
        imagenet = rlkd.Dataset.open_folder("/data/imagenet/train")
    """

    def __init__(self, handle: Pointer) -> None:
        self._adopt(handle, lib.rlkd_dataset_destroy)

    @classmethod
    def _made(cls, function: Callable[..., Any], *args: Any) -> Dataset:
        out = ctypes.c_void_p()
        function(*args, ctypes.byref(out))
        return cls(out.value)

    @classmethod
    def load_idx(cls, images_path: PathLike, labels_path: PathLike) -> Dataset:
        """MNIST-format IDX files, gzip-compressed or not."""
        return cls._made(lib.rlkd_dataset_load_idx, str(images_path).encode(),
                         str(labels_path).encode())

    @classmethod
    def load_cifar(cls, paths: Sequence[PathLike], cifar100: bool = False,
                   coarse_labels: bool = False) -> Dataset:
        """CIFAR binary batches, concatenated in the order given."""
        encoded = (ctypes.c_char_p * len(paths))(*(str(p).encode() for p in paths))
        return cls._made(lib.rlkd_dataset_load_cifar, encoded, len(paths), int(cifar100),
                         int(coarse_labels))

    @classmethod
    def open_folder(cls, root: PathLike, bad_files: str = "skip",
                    verify: str = "header") -> Dataset:
        """The images of an ImageFolder tree, root/<class>/<file>.jpg|.jpeg|.png
        (torchvision's ImageFolder layout, classes in sorted order), decoded
        by a Loader as PIL's convert("RGB") decodes them. bad_files: "skip"
        leaves a bad file out and lists it in bad_files, "fail" raises on
        the first; verify: how much of each file is read now, "none",
        "header" or "decode" (everything)."""
        return cls._made(lib.rlkd_dataset_open_folder, str(root).encode(),
                         ctypes.byref(_folder_options(bad_files, verify)))

    @classmethod
    def open_list(cls, list_path: PathLike, root: Optional[PathLike] = None,
                  bad_files: str = "skip", verify: str = "header") -> Dataset:
        """The images of a list file of "relative/path label" lines, paths
        relative to root (None: as written); bad_files and verify as
        open_folder."""
        return cls._made(lib.rlkd_dataset_open_list, str(list_path).encode(),
                         None if root is None else str(root).encode(),
                         ctypes.byref(_folder_options(bad_files, verify)))

    @classmethod
    def from_numpy(cls, images: npt.ArrayLike, labels: npt.ArrayLike,
                   classes: Optional[int] = None) -> Dataset:
        """A copy of uint8 images [N, C, H, W] and integer labels [N]
        (classes: default max(labels) + 1)."""
        images = np.ascontiguousarray(images, dtype=np.uint8)
        labels = np.asarray(labels, dtype=np.int64)
        if images.ndim != 4 or labels.shape != images.shape[:1]:
            raise ValueError("images must be [N, C, H, W] and labels [N], got %s and %s"
                             % (images.shape, labels.shape))
        if classes is None:
            classes = int(labels.max()) + 1
        count, channels, height, width = images.shape
        dataset = cls._made(lib.rlkd_dataset_create, count, channels, height, width, classes)
        for i in range(count):
            lib.rlkd_dataset_set_item(dataset.handle, i, images[i].ctypes.data, int(labels[i]))
        return dataset

    def _info(self) -> Tuple[int, Tuple[int, int, int], int]:
        count = ctypes.c_int64()
        channels, height, width, classes = (ctypes.c_int() for _ in range(4))
        lib.rlkd_dataset_info(self.handle, ctypes.byref(count), ctypes.byref(channels),
                              ctypes.byref(height), ctypes.byref(width), ctypes.byref(classes))
        return count.value, (channels.value, height.value, width.value), classes.value

    def __len__(self) -> int:
        return self._info()[0]

    @property
    def image_shape(self) -> Tuple[int, int, int]:
        """(channels, height, width); (3, 0, 0) for open_folder and open_list
        data sets, whose sizes vary (the Loader's crop_size fixes the
        batches')."""
        return self._info()[1]

    @property
    def classes(self) -> int:
        return self._info()[2]

    @property
    def class_names(self) -> List[Optional[str]]:
        """The class folders' names of an open_folder data set (None for
        each class of other data sets)."""
        names = []
        for label in range(self.classes):
            name = ctypes.c_char_p()
            lib.rlkd_dataset_class_name(self.handle, label, ctypes.byref(name))
            names.append(None if name.value is None else name.value.decode())
        return names

    @property
    def bad_files(self) -> List[Tuple[str, str]]:
        """(path, why) of every file open_folder or open_list left out."""
        count = ctypes.c_int64()
        lib.rlkd_dataset_bad_file_count(self.handle, ctypes.byref(count))
        found = []
        for index in range(count.value):
            path, reason = ctypes.c_char_p(), ctypes.c_char_p()
            lib.rlkd_dataset_bad_file(self.handle, index, ctypes.byref(path),
                                      ctypes.byref(reason))
            found.append((path.value.decode(), reason.value.decode()))
        return found

    def __getitem__(self, index: int) -> Tuple[np.ndarray, int]:
        """(image uint8 [C, H, W], label) of an in-memory data set."""
        count, shape, _ = self._info()
        if not -count <= index < count:
            raise IndexError("image %d of %d" % (index, count))
        image = np.empty(shape, dtype=np.uint8)
        label = ctypes.c_int32()
        lib.rlkd_dataset_get_item(self.handle, index % count, image.ctypes.data,
                                  ctypes.byref(label))
        return image, label.value

    def split(self, validation_count: int, seed: int = 0) -> Tuple[Dataset, Dataset]:
        """(train, validation): validation_count images by a seeded
        permutation; both are new data sets."""
        train, validation = ctypes.c_void_p(), ctypes.c_void_p()
        lib.rlkd_dataset_split(self.handle, validation_count, seed, ctypes.byref(train),
                               ctypes.byref(validation))
        return Dataset(train.value), Dataset(validation.value)

    def subset(self, first: int, count: int) -> Dataset:
        """A new data set of images [first, first + count)."""
        return self._made(lib.rlkd_dataset_subset, self.handle, first, count)


class Loader(Handle):
    """Batches of a data set as tensors on a context; options are
    rlkd_loader_options' fields (batch_size, shuffle, drop_last, seed,
    crop_padding, horizontal_flip, mean, std; for file-backed data sets
    crop_size, random_resized_crop, resize_size, scale_min, scale_max,
    ratio_min, ratio_max, workers, prefetch, decode_device: DEVICE_CUDA
    decodes with nvJPEG on a CUDA context's GPU, where features() has
    "nvjpeg").

        loader = rlkd.Loader(ctx, train, batch_size=128, shuffle=True, mean=[0.286], std=[0.353])
        for images, labels in loader.epoch(0):
            ...

    torchvision's ImageNet training transform (RandomResizedCrop(224),
    RandomHorizontalFlip, ToTensor, Normalize) over an open_folder data set
    with 8 decoding threads:

        rlkd.Loader(ctx, imagenet, batch_size=256, random_resized_crop=1, horizontal_flip=1,
                    crop_size=224, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225],
                    workers=8)

    A batch's tensors are the loader's, valid until its next batch.
    """

    context: Context

    def __init__(self, ctx: Context, dataset: Dataset, **options: Any) -> None:
        self.options = initialized(LoaderOptions)
        fill(self.options, options)
        out = ctypes.c_void_p()
        lib.rlkd_loader_create(ctx.handle, dataset.handle, ctypes.byref(self.options),
                               ctypes.byref(out))
        self.context, self.dataset = ctx, dataset
        self._adopt(out.value, lib.rlkd_loader_destroy, (ctx, dataset))

    def __len__(self) -> int:
        count = ctypes.c_int64()
        lib.rlkd_loader_batch_count(self.handle, ctypes.byref(count))
        return count.value

    def epoch(self, epoch: int, first_batch: int = 0) -> Iterator[Tuple[Tensor, Tensor]]:
        """Yields (images, labels) of one epoch, from batch first_batch."""
        lib.rlkd_loader_start_epoch(self.handle, epoch, first_batch)
        while True:
            images, labels = ctypes.c_void_p(), ctypes.c_void_p()
            lib.rlkd_loader_next(self.handle, ctypes.byref(images), ctypes.byref(labels))
            if not images.value:
                return
            yield Tensor._from_handle(images.value, self), Tensor._from_handle(labels.value, self)
