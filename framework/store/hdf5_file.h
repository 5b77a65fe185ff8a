// A thin checked layer over the HDF5 C API: every call's failure becomes a lowbit::Error naming the
// file and the object, HDF5's own error printing is silenced, and handles close themselves.
// All HDF5 calls of a process stay on one thread (the Debian library is not built thread-safe).
#pragma once

#include <ATen/core/Tensor.h>
#include <hdf5.h>

#include <string>
#include <vector>

namespace lowbit::h5 {

// Owns an hid_t and closes it with the right H5*close.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) reset(), id_ = o.id_, close_ = o.close_, o.id_ = H5I_INVALID_HID;
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*close_)(hid_t) = nullptr;
};

class File {
 public:
  static File create(const std::string& path);  // truncates
  static File open(const std::string& path, bool writable);
  const std::string& path() const { return path_; }
  hid_t id() const { return h_.get(); }
  void flush();

  bool exists(const std::string& object) const;            // "/blocks/3/mlp.up_proj"
  void ensure_group(const std::string& group);              // creates missing parents too
  void remove(const std::string& object);
  std::vector<std::string> children(const std::string& group) const;  // sorted names

  void write_tensor(const std::string& dataset, const at::Tensor& t);  // f32 f64 i32 i64 u8 i8
  // Non-empty tensors of rank >= 1 are stored with a Fletcher32 checksum per chunk, checked by read.
  at::Tensor read_tensor(const std::string& dataset) const;
  bool has_checksum(const std::string& dataset) const;  // the dataset carries the Fletcher32 filter

  void set_attr(const std::string& object, const std::string& name, const std::string& value);
  void set_attr(const std::string& object, const std::string& name, int64_t value);
  bool has_attr(const std::string& object, const std::string& name) const;
  std::string attr_string(const std::string& object, const std::string& name) const;
  int64_t attr_int(const std::string& object, const std::string& name) const;
  std::vector<std::string> attr_names(const std::string& object) const;

 private:
  File(std::string path, Handle h) : path_(std::move(path)), h_(std::move(h)) {}
  void check_storage(hid_t ds, hid_t space, const std::vector<hsize_t>& dims, size_t element_size,
                     const std::string& dataset) const;
  std::string path_;
  Handle h_;
};

}  // namespace lowbit::h5
