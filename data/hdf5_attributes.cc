// The root attributes of HDF5 files: read as one value each, checked first (data/hdf5_util.h).
#include <string>

#include "base/error.h"
#include "data/hdf5_stored_strings.h"
#include "data/hdf5_util.h"

namespace agreid::data::h5 {

namespace {
[[noreturn]] void unreadableAttribute(const std::string& file_label, const std::string& name) {
  throw InputError(file_label + ": cannot read root attribute '" + name + "' (corrupt file?)");
}
}  // namespace

bool hasAttribute(hid_t object, const std::string& name) {
  return H5Aexists(object, name.c_str()) > 0;
}

int64_t valueCount(hid_t attribute) {
  Handle space(H5Aget_space(attribute));
  return space.valid() ? H5Sget_simple_extent_npoints(space.get()) : -1;
}

namespace {
// A required root attribute of type class `cls` (`expected` names it) and holding one value,
// opened; its stored type goes to `ftype`.
Handle openOneValue(hid_t object, const std::string& file_label, const std::string& name,
                    H5T_class_t cls, const char* expected, Handle* ftype) {
  if (!hasAttribute(object, name)) {
    throw InputError(file_label + ": missing required root attribute '" + name + "'");
  }
  Handle attr(H5Aopen(object, name.c_str(), H5P_DEFAULT));
  *ftype = Handle(H5Aget_type(attr.get()));
  if (H5Tget_class(ftype->get()) != cls) {
    throw InputError(file_label + ": root attribute '" + name + "' has type " +
                     detail::describeType(ftype->get()) + ", expected " + expected);
  }
  const int64_t count = valueCount(attr.get());
  if (count != 1) {
    throw InputError(file_label + ": root attribute '" + name + "' holds " +
                     (count < 0 ? "an unreadable number of" : std::to_string(count)) +
                     " values, expected one");
  }
  return attr;
}
}  // namespace

std::string readStringAttribute(hid_t object, const std::string& file_label,
                                const std::string& name) {
  Handle ftype;
  Handle attr = openOneValue(object, file_label, name, H5T_STRING, "a string", &ftype);
  if (H5Tis_variable_str(ftype.get()) > 0) {
    checkStoredAttributeStrings(object, file_label);
    Handle mtype = detail::variableStringType(H5Tget_cset(ftype.get()));
    char* ptr = nullptr;
    if (H5Aread(attr.get(), mtype.get(), &ptr) < 0) unreadableAttribute(file_label, name);
    std::string value = ptr ? ptr : "";
    H5free_memory(ptr);
    return value;
  }
  const size_t size = H5Tget_size(ftype.get());
  std::string value(size, '\0');
  if (H5Aread(attr.get(), ftype.get(), value.data()) < 0) unreadableAttribute(file_label, name);
  const size_t nul = value.find('\0');
  if (nul != std::string::npos) value.resize(nul);
  return value;
}

int64_t readIntAttribute(hid_t object, const std::string& file_label, const std::string& name) {
  Handle ftype;
  const Handle attr = openOneValue(object, file_label, name, H5T_INTEGER, "an integer", &ftype);
  int64_t value = 0;
  if (H5Aread(attr.get(), H5T_NATIVE_INT64, &value) < 0) unreadableAttribute(file_label, name);
  return value;
}

}  // namespace agreid::data::h5
