"""Peer of bench/dataset_bench.cc: reads the same agreid dataset file with h5py (per image in
file order, per image in random order, runs of 64) and prints "name value unit" lines."""
import sys
import time

import h5py
import numpy as np


def main(path):
    t0 = time.perf_counter()
    f = h5py.File(path, "r")  # default h5py settings (1 MiB chunk cache)
    offsets = f["images/offsets"][()]
    for name in ("pid", "camid", "split", "label", "occluded", "path"):
        f["samples/" + name][()]
    print(f"h5py_open_and_read_metadata {1e3 * (time.perf_counter() - t0):.1f} ms")
    blob = f["images/blob"]
    n = len(offsets) - 1
    sink = 0
    t0 = time.perf_counter()
    for i in range(n):
        sink += len(blob[offsets[i]:offsets[i + 1]])
    print(f"h5py_sequential_per_image {n / (time.perf_counter() - t0):.0f} images/s")
    order = np.random.default_rng(1).permutation(n)
    t0 = time.perf_counter()
    for i in order:
        sink += len(blob[offsets[i]:offsets[i + 1]])
    print(f"h5py_random_per_image {n / (time.perf_counter() - t0):.0f} images/s")
    t0 = time.perf_counter()
    for b in range(0, n, 64):
        sink += len(blob[offsets[b]:offsets[min(n, b + 64)]])
    print(f"h5py_runs_of_64 {n / (time.perf_counter() - t0):.0f} images/s")
    f.close()
    # The same random reads with the chunk cache off, as DatasetReader opens the blob.
    f = h5py.File(path, "r", rdcc_nbytes=0)
    blob = f["images/blob"]
    t0 = time.perf_counter()
    for i in order:
        sink += len(blob[offsets[i]:offsets[i + 1]])
    print(f"h5py_random_per_image_no_chunk_cache {n / (time.perf_counter() - t0):.0f} images/s")
    assert sink > 0


if __name__ == "__main__":
    main(sys.argv[1])
