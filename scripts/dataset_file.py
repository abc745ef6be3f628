"""Reading agreid dataset files (docs/data-format.md) from the analysis scripts."""
import io
import sys

import h5py
import numpy as np
from PIL import Image


def open_dataset(path, tool, required=()):
    """Opens `path` read-only; exits with one line naming `tool` and the file when it cannot be
    opened or lacks one of the `required` objects."""
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        sys.exit(f"{tool}: cannot open {path}: {e}")
    for key in required:
        if key not in f:
            f.close()
            sys.exit(f"{tool}: {path} stores no /{key}")
    return f


def decode_images(blob, offsets, n):
    """The first `n` JPEG images of /images/blob as one uint8 array [n, H, W, 3]."""
    return np.stack([np.asarray(Image.open(io.BytesIO(blob[offsets[i]:offsets[i + 1]].tobytes()))
                                .convert("RGB")) for i in range(n)])
