#include "trainer/model/safetensors.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "base/error.h"
#include "trainer/util/json.h"

namespace agreid::trainer {
namespace {

// Headers beyond this are refused (Hugging Face's own reader uses the same bound).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DtypeInfo {
  const char* name;
  at::ScalarType type;
  int64_t bytes;
};

const DtypeInfo kDtypes[] = {
    {"F32", at::kFloat, 4}, {"F16", at::kHalf, 2}, {"BF16", at::kBFloat16, 2},
    {"I64", at::kLong, 8},  {"I32", at::kInt, 4},
};

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw InputError("safetensors file '" + path + "': " + what);
}

uint64_t readLittleEndian64(const unsigned char* b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

struct Entry {
  std::string name;
  const DtypeInfo* dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

Entry parseEntry(const std::string& path, const std::string& name, const Json& v) {
  const auto bad = [&](const std::string& what) { fail(path, "tensor '" + name + "': " + what); };
  if (!v.is_object()) bad("header entry is not an object");
  Entry e{name, nullptr, {}, 0, 0};
  const Json* dtype_json = jsonMember(v, "dtype");
  if (!dtype_json || !dtype_json->is_string()) bad("no string 'dtype'");
  const std::string dtype = dtype_json->get<std::string>();
  for (const DtypeInfo& d : kDtypes) {
    if (dtype == d.name) e.dtype = &d;
  }
  if (!e.dtype) bad("dtype '" + dtype + "' is not supported (F32, F16, BF16, I64, I32)");
  const Json* shape = jsonMember(v, "shape");
  if (!shape || !shape->is_array()) bad("no array 'shape'");
  uint64_t elements = 1;
  for (const Json& d : *shape) {
    const auto size = jsonInt64(d);
    if (!size || *size < 0) bad("'shape' holds something other than sizes >= 0");
    e.shape.push_back(*size);
    if (*size != 0 && elements > (uint64_t{1} << 62) / static_cast<uint64_t>(*size)) {
      bad("'shape' is implausibly large");
    }
    elements *= static_cast<uint64_t>(*size);
  }
  const Json* offsets = jsonMember(v, "data_offsets");
  const bool pair = offsets && offsets->is_array() && offsets->size() == 2;
  const auto begin = pair ? jsonInt64((*offsets)[0]) : std::nullopt;
  const auto end = pair ? jsonInt64((*offsets)[1]) : std::nullopt;
  if (!begin || !end || *begin < 0 || *end < *begin) {
    bad("'data_offsets' must be two integers [begin, end] with 0 <= begin <= end");
  }
  e.begin = static_cast<uint64_t>(*begin);
  e.end = static_cast<uint64_t>(*end);
  const uint64_t bytes = elements * static_cast<uint64_t>(e.dtype->bytes);
  if (e.end - e.begin != bytes) {
    bad("data_offsets span " + std::to_string(e.end - e.begin) + " bytes, but " + dtype +
        " of this shape needs " + std::to_string(bytes));
  }
  return e;
}

}  // namespace

bool isSafetensorsFile(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size < 9) return false;
  std::ifstream in(path, std::ios::binary);
  unsigned char head[9];
  in.read(reinterpret_cast<char*>(head), 9);
  if (in.gcount() != 9) return false;
  const uint64_t n = readLittleEndian64(head);
  return n >= 2 && n <= kMaxHeaderBytes && head[8] == '{';
}

std::map<std::string, at::Tensor> readSafetensors(const std::string& path,
                                                  std::string* stored_dtype) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(path, "no such file");
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) fail(path, "cannot read its size (" + ec.message() + ")");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot be opened");
  unsigned char head[8];
  in.read(reinterpret_cast<char*>(head), 8);
  if (in.gcount() != 8) fail(path, "shorter than the 8-byte header length (truncated?)");
  const uint64_t header_bytes = readLittleEndian64(head);
  if (header_bytes > kMaxHeaderBytes || header_bytes > file_size - 8) {
    fail(path, "header length " + std::to_string(header_bytes) + " exceeds the file (" +
                   std::to_string(file_size) + " bytes; truncated or not safetensors)");
  }
  std::string header(header_bytes, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_bytes));
  if (static_cast<uint64_t>(in.gcount()) != header_bytes) fail(path, "truncated header");
  const Json root = parseJson(header, "safetensors file '" + path + "' header");
  if (!root.is_object()) fail(path, "header is not a JSON object");

  const uint64_t data_start = 8 + header_bytes;
  const uint64_t data_bytes = file_size - data_start;
  std::vector<Entry> entries;
  for (const auto& [name, value] : root.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) fail(path, "'__metadata__' is not an object");
      continue;
    }
    entries.push_back(parseEntry(path, name, value));
    if (entries.back().end > data_bytes) {
      fail(path, "tensor '" + name + "': data_offsets end at byte " +
                     std::to_string(entries.back().end) + " of a " + std::to_string(data_bytes) +
                     "-byte data section (truncated?)");
    }
  }
  // Tensors must not share bytes.
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  const Entry* furthest = nullptr;  // the entry reaching furthest so far
  for (const Entry* e : by_offset) {
    if (e->end == e->begin) continue;
    if (furthest && e->begin < furthest->end) {
      fail(path,
           "tensors '" + furthest->name + "' and '" + e->name + "' overlap in the data section");
    }
    if (!furthest || e->end > furthest->end) furthest = e;
  }

  std::map<std::string, at::Tensor> out;
  for (const Entry& e : entries) {
    at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(e.dtype->type));
    const uint64_t bytes = e.end - e.begin;
    in.seekg(static_cast<std::streamoff>(data_start + e.begin));
    in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(bytes));
    if (!in || static_cast<uint64_t>(in.gcount()) != bytes) {
      fail(path, "tensor '" + e.name + "': cannot read its " + std::to_string(bytes) + " bytes");
    }
    if (t.is_floating_point()) {
      if (stored_dtype && stored_dtype->empty()) *stored_dtype = e.dtype->name;
      t = t.to(at::kFloat);
    } else {
      t = t.to(at::kLong);
    }
    out.emplace(e.name, t);
  }
  return out;
}

}  // namespace agreid::trainer
