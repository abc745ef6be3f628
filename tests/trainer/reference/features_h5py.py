#!/usr/bin/python3
"""Rewrites an agreid features file the way a user of h5py would write one, for
tests/trainer/eval_features_h5py_test.cc (the writer is the snippet of docs/evaluation.md).

Usage: features_h5py.py IN OUT MODE
MODE "defaults": float64 features, int64 ids, numpy bool occluded, str attributes (h5py stores
them as variable-length UTF-8 strings).
MODE "fixed": float32 features, int32 ids, fixed-length byte-string attributes (numpy.bytes_) and
an integer format_version.
MODES "many-strings", "many-integers": as "defaults", but the attribute 'split' (or
'format_version') holds two values, a list where one is expected.
"""
import sys

import h5py
import numpy as np


def write_features(path, features, pid, camid, index, occluded=None, split="query",
                   dataset="", kind="clip", weights=""):
    """The docs/evaluation.md snippet: h5py defaults throughout."""
    with h5py.File(path, "w") as f:
        f["features"] = features
        f["pid"] = pid
        f["camid"] = camid
        f["index"] = index
        if occluded is not None:
            f["occluded"] = occluded
        f.attrs["format_version"] = "1"
        f.attrs["split"] = split
        f.attrs["dataset"] = dataset
        f.attrs["kind"] = kind
        f.attrs["weights"] = weights


def main():
    src, dst, mode = sys.argv[1:4]
    with h5py.File(src, "r") as f:
        arrays = {k: f[k][()] for k in ("features", "pid", "camid", "index", "occluded") if k in f}
        attrs = {k: f.attrs[k] for k in ("split", "dataset", "kind", "weights")}
    attrs = {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in attrs.items()}
    if mode in ("defaults", "many-strings", "many-integers"):
        write_features(dst, np.asarray(arrays["features"], dtype=np.float64),
                       arrays["pid"].tolist(), arrays["camid"].tolist(), arrays["index"].tolist(),
                       np.asarray(arrays["occluded"]) != 0 if "occluded" in arrays else None,
                       **attrs)
        with h5py.File(dst, "r+") as f:
            if mode == "many-strings":
                f.attrs["split"] = [attrs["split"], "gallery"]
            elif mode == "many-integers":
                f.attrs["format_version"] = [1, 1]
    elif mode == "fixed":
        with h5py.File(dst, "w") as f:
            f["features"] = np.asarray(arrays["features"], dtype=np.float32)
            for k in ("pid", "camid", "index", "occluded"):
                if k in arrays:
                    f[k] = np.asarray(arrays[k], dtype=np.int32)
            f.attrs["format_version"] = 1
            for k, v in attrs.items():
                if v:  # HDF5 has no zero-length fixed strings
                    f.attrs[k] = np.bytes_(v.encode())
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
