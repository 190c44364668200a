#pragma once

// The small part of the HDF5 C API the results file needs: one RAII handle per kind of hid_t,
// every call checked, and failures turned into llmpi::Error naming the file and the object.
#include <hdf5.h>

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace llmpi::h5 {

template <herr_t (*Close)(hid_t)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }

  hid_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closing can fail (a file's last flush); destructors ignore that, close() reports it.
  herr_t close() noexcept { return id_ >= 0 ? Close(std::exchange(id_, H5I_INVALID_HID)) : 0; }
  void reset() noexcept { close(); }
  // Gives up the handle without closing it.
  hid_t release() noexcept { return std::exchange(id_, H5I_INVALID_HID); }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using File = Handle<H5Fclose>;
using Group = Handle<H5Gclose>;
using Dataset = Handle<H5Dclose>;
using Dataspace = Handle<H5Sclose>;
using Datatype = Handle<H5Tclose>;
using PropertyList = Handle<H5Pclose>;
using Attribute = Handle<H5Aclose>;

// HDF5 prints its error stack to stderr by default; llmpi reports errors itself. The setting is
// per thread in a thread-safe HDF5 build (Debian's is), so every entry point calls this.
void silence_errors();

// The innermost message of HDF5's error stack (the one that names the cause, e.g. errno), then
// clears the stack. Call right after the failing call.
std::string error_detail();

// Checks of HDF5 return values against one file: "<file>: cannot <what>: <HDF5's reason>".
class Checker {
 public:
  explicit Checker(std::string file) : file_(std::move(file)) {}
  const std::string& file() const { return file_; }

  [[noreturn]] void fail(const std::string& what) const;
  // Errors that are ours, not HDF5's: "<file>: <message>".
  [[noreturn]] void invalid(const std::string& message) const;
  hid_t id(hid_t result, const std::string& what) const {
    if (result < 0) fail(what);
    return result;
  }
  void ok(herr_t result, const std::string& what) const {
    if (result < 0) fail(what);
  }
  bool tri(htri_t result, const std::string& what) const {
    if (result < 0) fail(what);
    return result > 0;
  }

 private:
  std::string file_;
};

// Datatypes. Memory types are native; file types are fixed little-endian standard types so a
// file means the same on every machine.
Datatype string_type();  // variable-length UTF-8, NUL-terminated (memory and file alike)
Datatype vlen_type(hid_t base);

// Attributes, created or rewritten in place.
void write_attribute(const Checker& check, hid_t object, const std::string& object_name,
                     const std::string& name, const std::string& value);
void write_attribute(const Checker& check, hid_t object, const std::string& object_name,
                     const std::string& name, std::int64_t value);
void write_attribute(const Checker& check, hid_t object, const std::string& object_name,
                     const std::string& name, double value);
bool has_attribute(const Checker& check, hid_t object, const std::string& object_name,
                   const std::string& name);
std::string read_string_attribute(const Checker& check, hid_t object,
                                  const std::string& object_name, const std::string& name);
std::int64_t read_int_attribute(const Checker& check, hid_t object, const std::string& object_name,
                                const std::string& name);
double read_double_attribute(const Checker& check, hid_t object, const std::string& object_name,
                             const std::string& name);
std::vector<std::string> attribute_names(const Checker& check, hid_t object,
                                         const std::string& object_name);

// A scalar dataset holding one string (texts too long for an attribute's 64 KiB).
void write_string_dataset(const Checker& check, hid_t parent, const std::string& path,
                          const std::string& value);
std::string read_string_dataset(const Checker& check, hid_t parent, const std::string& path);

Group create_group(const Checker& check, hid_t parent, const std::string& path);
Group open_group(const Checker& check, hid_t parent, const std::string& path);
Dataset open_dataset(const Checker& check, hid_t parent, const std::string& path);
bool link_exists(const Checker& check, hid_t parent, const std::string& path);

// Rows of a one-dimensional dataset.
std::int64_t row_count(const Checker& check, hid_t dataset, const std::string& name);

// A one-dimensional, chunked dataset that grows along its only axis.
Dataset create_table(const Checker& check, hid_t parent, const std::string& path, hid_t file_type,
                     hsize_t chunk_rows);

// Writes rows [first, first + count) from `rows` (laid out as `memory_type`), extending the
// dataset to `new_size` rows first.
void write_rows(const Checker& check, hid_t dataset, const std::string& name, hid_t memory_type,
                hsize_t first, hsize_t count, hsize_t new_size, const void* rows);
// Reads rows [first, first + count) into `rows`; variable-length members are allocated by HDF5
// and are released by a VlenBuffer.
void read_rows(const Checker& check, hid_t dataset, const std::string& name, hid_t memory_type,
               hsize_t first, hsize_t count, void* rows);

// Frees what HDF5 allocated for the variable-length members of `count` rows read into `rows`.
// Made before the read, over zeroed rows, so a failed read leaks nothing either.
class VlenBuffer {
 public:
  VlenBuffer(hid_t memory_type, hsize_t count, void* rows);
  ~VlenBuffer();
  VlenBuffer(const VlenBuffer&) = delete;
  VlenBuffer& operator=(const VlenBuffer&) = delete;

 private:
  hid_t memory_type_;
  Dataspace space_;
  void* rows_;
};

}  // namespace llmpi::h5
