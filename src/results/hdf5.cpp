#include "hdf5.hpp"

#include <cstdlib>

#include "llmpi/core/error.hpp"

namespace llmpi::h5 {

void silence_errors() {
  // At exit HDF5 would flush and close every file still open, including one abandoned after a
  // failed write, whose in-memory state no longer matches the disk: it is left as flushed.
  static const bool no_atexit = [] { return H5dont_atexit() >= 0; }();
  (void)no_atexit;
  thread_local bool silenced = false;
  if (silenced) return;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  silenced = true;
}

std::string error_detail() {
  std::string detail;
  // Upward: the first entry is the innermost function, where the cause was detected.
  const auto innermost = [](unsigned n, const H5E_error2_t* error, void* data) -> herr_t {
    auto& text = *static_cast<std::string*>(data);
    if (n == 0 && error->desc != nullptr) text = error->desc;
    return 0;
  };
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, &detail);
  H5Eclear2(H5E_DEFAULT);
  if (detail.empty()) return "HDF5 gave no reason";
  // System call failures read "unable to open file: name = ..., errno = 13, error message =
  // 'Permission denied', flags = ...": keep what failed and the system's message.
  const std::string marker = "error message = '";
  const std::size_t begin = detail.find(marker);
  const std::size_t end =
      begin == std::string::npos ? std::string::npos : detail.find('\'', begin + marker.size());
  if (end == std::string::npos) return detail;
  return detail.substr(0, detail.find_first_of(":,")) + ": " +
         detail.substr(begin + marker.size(), end - begin - marker.size());
}

void Checker::fail(const std::string& what) const {
  throw Error(file_ + ": cannot " + what + ": " + error_detail());
}

void Checker::invalid(const std::string& message) const {
  H5Eclear2(H5E_DEFAULT);
  throw Error(file_ + ": " + message);
}

Datatype string_type() {
  Datatype type(H5Tcopy(H5T_C_S1));
  if (!type.valid() || H5Tset_size(type.id(), H5T_VARIABLE) < 0 ||
      H5Tset_cset(type.id(), H5T_CSET_UTF8) < 0 || H5Tset_strpad(type.id(), H5T_STR_NULLTERM) < 0) {
    throw Error("cannot build the HDF5 string type: " + error_detail());
  }
  return type;
}

Datatype vlen_type(hid_t base) {
  Datatype type(H5Tvlen_create(base));
  if (!type.valid()) throw Error("cannot build an HDF5 variable-length type: " + error_detail());
  return type;
}

namespace {

std::string attribute_name(const std::string& object_name, const std::string& name) {
  return "attribute '" + name + "' of " + object_name;
}

// Opens the attribute, or creates it (scalar) with `file_type`.
Attribute open_or_create_attribute(const Checker& check, hid_t object,
                                   const std::string& object_name, const std::string& name,
                                   hid_t file_type) {
  const std::string what = attribute_name(object_name, name);
  if (check.tri(H5Aexists(object, name.c_str()), "look up " + what)) {
    return Attribute(check.id(H5Aopen(object, name.c_str(), H5P_DEFAULT), "open " + what));
  }
  Dataspace scalar(check.id(H5Screate(H5S_SCALAR), "create a dataspace for " + what));
  return Attribute(
      check.id(H5Acreate2(object, name.c_str(), file_type, scalar.id(), H5P_DEFAULT, H5P_DEFAULT),
               "create " + what));
}

Attribute open_attribute(const Checker& check, hid_t object, const std::string& object_name,
                         const std::string& name, H5T_class_t expected, const char* kind) {
  const std::string what = attribute_name(object_name, name);
  if (!check.tri(H5Aexists(object, name.c_str()), "look up " + what)) {
    check.invalid(what + " is missing");
  }
  Attribute attribute(check.id(H5Aopen(object, name.c_str(), H5P_DEFAULT), "open " + what));
  Datatype type(check.id(H5Aget_type(attribute.id()), "read the type of " + what));
  if (H5Tget_class(type.id()) != expected) check.invalid(what + " is not " + kind);
  return attribute;
}

}  // namespace

void write_attribute(const Checker& check, hid_t object, const std::string& object_name,
                     const std::string& name, const std::string& value) {
  const Datatype type = string_type();
  const Attribute attribute = open_or_create_attribute(check, object, object_name, name, type.id());
  const char* text = value.c_str();
  check.ok(H5Awrite(attribute.id(), type.id(), &text),
           "write " + attribute_name(object_name, name));
}

void write_attribute(const Checker& check, hid_t object, const std::string& object_name,
                     const std::string& name, std::int64_t value) {
  const Attribute attribute =
      open_or_create_attribute(check, object, object_name, name, H5T_STD_I64LE);
  check.ok(H5Awrite(attribute.id(), H5T_NATIVE_INT64, &value),
           "write " + attribute_name(object_name, name));
}

void write_attribute(const Checker& check, hid_t object, const std::string& object_name,
                     const std::string& name, double value) {
  const Attribute attribute =
      open_or_create_attribute(check, object, object_name, name, H5T_IEEE_F64LE);
  check.ok(H5Awrite(attribute.id(), H5T_NATIVE_DOUBLE, &value),
           "write " + attribute_name(object_name, name));
}

bool has_attribute(const Checker& check, hid_t object, const std::string& object_name,
                   const std::string& name) {
  return check.tri(H5Aexists(object, name.c_str()), "look up " + attribute_name(object_name, name));
}

std::string read_string_attribute(const Checker& check, hid_t object,
                                  const std::string& object_name, const std::string& name) {
  const Attribute attribute =
      open_attribute(check, object, object_name, name, H5T_STRING, "a string");
  const Datatype type = string_type();
  char* text = nullptr;
  const VlenBuffer release(type.id(), 1, &text);
  check.ok(H5Aread(attribute.id(), type.id(), &text), "read " + attribute_name(object_name, name));
  return text != nullptr ? std::string(text) : std::string();
}

std::int64_t read_int_attribute(const Checker& check, hid_t object, const std::string& object_name,
                                const std::string& name) {
  const Attribute attribute =
      open_attribute(check, object, object_name, name, H5T_INTEGER, "an integer");
  std::int64_t value = 0;
  check.ok(H5Aread(attribute.id(), H5T_NATIVE_INT64, &value),
           "read " + attribute_name(object_name, name));
  return value;
}

double read_double_attribute(const Checker& check, hid_t object, const std::string& object_name,
                             const std::string& name) {
  const Attribute attribute =
      open_attribute(check, object, object_name, name, H5T_FLOAT, "a floating-point number");
  double value = 0;
  check.ok(H5Aread(attribute.id(), H5T_NATIVE_DOUBLE, &value),
           "read " + attribute_name(object_name, name));
  return value;
}

std::vector<std::string> attribute_names(const Checker& check, hid_t object,
                                         const std::string& object_name) {
  std::vector<std::string> names;
  const auto collect = [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
    return 0;
  };
  check.ok(H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect, &names),
           "list the attributes of " + object_name);
  return names;
}

void write_string_dataset(const Checker& check, hid_t parent, const std::string& path,
                          const std::string& value) {
  const Datatype type = string_type();
  Dataspace scalar(check.id(H5Screate(H5S_SCALAR), "create a dataspace for " + path));
  Dataset dataset(check.id(H5Dcreate2(parent, path.c_str(), type.id(), scalar.id(), H5P_DEFAULT,
                                      H5P_DEFAULT, H5P_DEFAULT),
                           "create dataset " + path));
  const char* text = value.c_str();
  check.ok(H5Dwrite(dataset.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &text),
           "write dataset " + path);
}

std::string read_string_dataset(const Checker& check, hid_t parent, const std::string& path) {
  const Dataset dataset = open_dataset(check, parent, path);
  Datatype stored(check.id(H5Dget_type(dataset.id()), "read the type of dataset " + path));
  if (H5Tget_class(stored.id()) != H5T_STRING) check.invalid("dataset " + path + " is not text");
  const Datatype type = string_type();
  char* text = nullptr;
  const VlenBuffer release(type.id(), 1, &text);
  check.ok(H5Dread(dataset.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &text),
           "read dataset " + path);
  return text != nullptr ? std::string(text) : std::string();
}

bool link_exists(const Checker& check, hid_t parent, const std::string& path) {
  return check.tri(H5Lexists(parent, path.c_str(), H5P_DEFAULT), "look up " + path);
}

Group create_group(const Checker& check, hid_t parent, const std::string& path) {
  return Group(check.id(H5Gcreate2(parent, path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                        "create group " + path));
}

Group open_group(const Checker& check, hid_t parent, const std::string& path) {
  if (!link_exists(check, parent, path)) check.invalid("group " + path + " is missing");
  return Group(check.id(H5Gopen2(parent, path.c_str(), H5P_DEFAULT), "open group " + path));
}

Dataset open_dataset(const Checker& check, hid_t parent, const std::string& path) {
  if (!link_exists(check, parent, path)) check.invalid("dataset " + path + " is missing");
  return Dataset(check.id(H5Dopen2(parent, path.c_str(), H5P_DEFAULT), "open dataset " + path));
}

std::int64_t row_count(const Checker& check, hid_t dataset, const std::string& name) {
  Dataspace space(check.id(H5Dget_space(dataset), "read the shape of " + name));
  if (H5Sget_simple_extent_ndims(space.id()) != 1) check.invalid(name + " is not one-dimensional");
  hsize_t rows = 0;
  check.ok(H5Sget_simple_extent_dims(space.id(), &rows, nullptr), "read the shape of " + name);
  return static_cast<std::int64_t>(rows);
}

Dataset create_table(const Checker& check, hid_t parent, const std::string& path, hid_t file_type,
                     hsize_t chunk_rows) {
  const hsize_t initial = 0;
  const hsize_t unlimited = H5S_UNLIMITED;
  Dataspace space(
      check.id(H5Screate_simple(1, &initial, &unlimited), "create a dataspace for " + path));
  PropertyList create(check.id(H5Pcreate(H5P_DATASET_CREATE), "create properties for " + path));
  check.ok(H5Pset_chunk(create.id(), 1, &chunk_rows), "set the chunk size of " + path);
  return Dataset(check.id(H5Dcreate2(parent, path.c_str(), file_type, space.id(), H5P_DEFAULT,
                                     create.id(), H5P_DEFAULT),
                          "create dataset " + path));
}

namespace {
// The file and memory dataspaces of rows [first, first + count) of a 1-D dataset.
std::pair<Dataspace, Dataspace> select_rows(const Checker& check, hid_t dataset,
                                            const std::string& name, hsize_t first, hsize_t count) {
  Dataspace file_space(check.id(H5Dget_space(dataset), "read the shape of " + name));
  check.ok(H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, &first, nullptr, &count, nullptr),
           "select rows of " + name);
  Dataspace memory_space(
      check.id(H5Screate_simple(1, &count, nullptr), "create a dataspace for rows of " + name));
  return {std::move(file_space), std::move(memory_space)};
}

std::string row_span(const std::string& name, hsize_t first, hsize_t count) {
  return "rows " + std::to_string(first) + " to " + std::to_string(first + count - 1) + " of " +
         name;
}
}  // namespace

void write_rows(const Checker& check, hid_t dataset, const std::string& name, hid_t memory_type,
                hsize_t first, hsize_t count, hsize_t new_size, const void* rows) {
  check.ok(H5Dset_extent(dataset, &new_size),
           "resize " + name + " to " + std::to_string(new_size) + " rows");
  if (count == 0) return;
  const auto [file_space, memory_space] = select_rows(check, dataset, name, first, count);
  check.ok(H5Dwrite(dataset, memory_type, memory_space.id(), file_space.id(), H5P_DEFAULT, rows),
           "write " + row_span(name, first, count));
}

void read_rows(const Checker& check, hid_t dataset, const std::string& name, hid_t memory_type,
               hsize_t first, hsize_t count, void* rows) {
  if (count == 0) return;
  const auto [file_space, memory_space] = select_rows(check, dataset, name, first, count);
  check.ok(H5Dread(dataset, memory_type, memory_space.id(), file_space.id(), H5P_DEFAULT, rows),
           "read " + row_span(name, first, count));
}

VlenBuffer::VlenBuffer(hid_t memory_type, hsize_t count, void* rows)
    : memory_type_(memory_type), space_(H5Screate_simple(1, &count, nullptr)), rows_(rows) {}

VlenBuffer::~VlenBuffer() {
  if (!space_.valid()) return;  // nothing to walk; leaks rather than crashes
#if H5_VERSION_GE(1, 12, 0)
  H5Treclaim(memory_type_, space_.id(), H5P_DEFAULT, rows_);
#else
  H5Dvlen_reclaim(memory_type_, space_.id(), H5P_DEFAULT, rows_);
#endif
}

}  // namespace llmpi::h5
