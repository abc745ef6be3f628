// Safetensors files (Hugging Face's weight format): an 8-byte little-endian header length N, N
// bytes of JSON ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
// optionally "__metadata__": {string: string}}), then the tensor bytes, offsets relative to the
// end of the header. Read here without a conversion step: F32, F16 and BF16 tensors (converted
// to fp32), I64 and I32 (to int64).
//
// Every field is validated -- header length within the file, JSON object, known dtype, shape of
// non-negative integers, offsets inside the data section and of the size dtype x shape gives,
// tensors not overlapping -- and each failure throws a one-line InputError naming the file and the
// tensor. Pure functions; thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

namespace agreid::trainer {

// True when `path` starts like a safetensors file: a plausible header length followed by '{'
// (a truncated file still counts, so that reading it says what is wrong). Cheap; never throws.
bool isSafetensorsFile(const std::string& path);

// Every tensor of the file by name (floating ones as fp32, integer ones as int64, CPU,
// contiguous). The dtype of the first floating tensor ("F16", ...) goes to `stored_dtype` when
// given. Throws InputError naming `path` (and the tensor) on any inconsistency.
std::map<std::string, at::Tensor> readSafetensors(const std::string& path,
                                                  std::string* stored_dtype = nullptr);

}  // namespace agreid::trainer
