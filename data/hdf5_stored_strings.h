// Checks of variable-length strings as stored, made before libhdf5 reads them.
//
// A stored variable-length string is 16 bytes (with 8-byte addresses): its length (u32), the
// address of the global heap collection that holds it, and its object index there (u32).
// libhdf5 1.10 trusts all three: it allocates and clears the claimed length (up to 4 GiB per
// string) before reading anything, and reads an index its collection lacks through a null
// pointer (a crash); it also reads each element as a heap reference whatever size the stored
// datatype gives it (a 15-byte element reads past its buffer). These checks read the stored strings
// directly and require each length, and their sum, to fit in the file, and each non-empty string to
// be an object of that length in an intact collection (data/hdf5_heap_guard.h walks it). Each
// throws InputError naming the file, the field or attribute, and the element.
#pragma once

#include <hdf5.h>

#include <string>

namespace agreid::data::h5 {

// A variable-length string field, before H5Dread: its stored type (heap-reference-sized elements
// of 1-byte characters; version-1 header) and, in contiguous and unfiltered chunked layouts, whose
// raw elements it reads directly, each stored string; compact or compressed fields are left to
// libhdf5.
void checkStoredStrings(hid_t dataset, const std::string& file_label, const std::string& path);

// Every variable-length attribute of `object`, before H5Aread: reads the object's header
// (version 1, the layout HDF5 writes by default and agreid and h5py use) and checks the data of
// each attribute message of a variable-length type (its element size, then each string). Version-2
// headers and attributes kept outside the header (dense storage) are left to libhdf5. An object
// whose header libhdf5 cannot describe (H5Oget_info2 fails) is an input error: its attributes
// cannot be checked.
void checkStoredAttributeStrings(hid_t object, const std::string& file_label);

// The field at `path` of `file`, before H5Dopen: a chunked layout must give one positive chunk
// dimension per dimension of the dataspace, plus the element size (libhdf5 1.10.8 divides by each
// when it opens the field: a chunk dimension of 0 was a division by zero, a crash). Version-1
// headers; `what` ("<file>: field <path>") names it in the InputError.
void checkChunkShape(hid_t file, const std::string& path, const std::string& what);

}  // namespace agreid::data::h5
