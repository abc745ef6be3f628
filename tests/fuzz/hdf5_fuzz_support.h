// For the fuzz targets that read HDF5 files: once a reader is gone, nothing of its file may stay
// open in libhdf5. An identifier left open keeps the file's metadata cache for the life of the
// process (a training job opens files again and again), and is not a leak to LeakSanitizer,
// since libhdf5's identifier tables still reach it.
#pragma once

#include <hdf5.h>

#include <cstdio>
#include <cstdlib>

namespace agreid::fuzz {

inline void requireNoOpenHdf5Objects() {
  const ssize_t open = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
  if (open != 0) {
    std::fprintf(stderr, "finding: %zd HDF5 identifiers left open after the reader\n", open);
    std::abort();
  }
}

}  // namespace agreid::fuzz
