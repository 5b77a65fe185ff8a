#include "framework/store/hdf5_file.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "framework/core/error.h"

namespace lowbit::h5 {
namespace {

void silence_hdf5() {
  static const bool once = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)once;
}

hid_t mem_type(c10::ScalarType t) {
  switch (t) {
    case at::kFloat: return H5T_NATIVE_FLOAT;
    case at::kDouble: return H5T_NATIVE_DOUBLE;
    case at::kInt: return H5T_NATIVE_INT32;
    case at::kLong: return H5T_NATIVE_INT64;
    case at::kByte: return H5T_NATIVE_UINT8;
    case at::kChar: return H5T_NATIVE_INT8;
    default: LOWBIT_FAIL("HDF5: cannot store tensors of type ", c10::toString(t));
  }
}

c10::ScalarType scalar_type(hid_t file_type, const std::string& where) {
  const H5T_class_t cls = H5Tget_class(file_type);
  const size_t size = H5Tget_size(file_type);
  if (cls == H5T_FLOAT && size == 4) return at::kFloat;
  if (cls == H5T_FLOAT && size == 8) return at::kDouble;
  if (cls == H5T_INTEGER) {
    const bool is_signed = H5Tget_sign(file_type) == H5T_SGN_2;
    if (size == 4 && is_signed) return at::kInt;
    if (size == 8 && is_signed) return at::kLong;
    if (size == 1) return is_signed ? at::kChar : at::kByte;
  }
  LOWBIT_FAIL(where, ": unsupported HDF5 element type (class ", static_cast<int>(cls), ", size ", size, ")");
}

}  // namespace

// Before a read sizes a tensor from the file's declared shape: the shape must be what the file
// holds. A damaged file can declare any shape (an allocation without limit) or chunks shorter than
// their checksum (HDF5 1.10's Fletcher32 filter then reads out of bounds): both are refused here.
void File::check_storage(hid_t ds, hid_t space, const std::vector<hsize_t>& dims, size_t element_size,
                         const std::string& dataset) const {
  long double numel = 1;
  for (hsize_t d : dims) numel *= static_cast<long double>(d);
  LOWBIT_CHECK(numel * element_size <= static_cast<long double>(int64_t{1} << 40), path_, ": dataset ", dataset,
               " declares ", static_cast<double>(numel), " elements: the file is damaged");
  if (numel == 0) return;
  const hsize_t stored = H5Dget_storage_size(ds);
  Handle dcpl(H5Dget_create_plist(ds), H5Pclose);
  if (H5Pget_layout(dcpl.get()) != H5D_CHUNKED) {
    LOWBIT_CHECK(static_cast<long double>(stored) >= numel * element_size, path_, ": dataset ", dataset, " holds ",
                 stored, " bytes, fewer than its shape needs: the file is damaged or truncated");
    return;
  }
  hsize_t chunks = 0;
  LOWBIT_CHECK(H5Dget_num_chunks(ds, space, &chunks) >= 0, path_, ": dataset ", dataset, ": unreadable chunk index");
  std::vector<hsize_t> offset(dims.size());
  long double total = 0;
  for (hsize_t i = 0; i < chunks; ++i) {
    unsigned mask = 0;
    haddr_t addr = 0;
    hsize_t size = 0;
    LOWBIT_CHECK(H5Dget_chunk_info(ds, space, i, offset.data(), &mask, &addr, &size) >= 0 && size >= 4, path_,
                 ": dataset ", dataset, ": chunk ", i, " is damaged (", size, " bytes)");
    total += static_cast<long double>(size - 4);  // the data of a chunk, without its checksum
  }
  // Uncompressed chunks together hold at least the declared elements (deflated ones are checked by
  // their checksums when read).
  size_t n = 0;
  unsigned flags = 0;
  const bool deflated = H5Pget_filter_by_id2(dcpl.get(), H5Z_FILTER_DEFLATE, &flags, &n, nullptr, 0, nullptr, nullptr) >= 0;
  LOWBIT_CHECK(deflated || total >= numel * element_size, path_, ": dataset ", dataset, " holds ", static_cast<double>(total),
               " bytes in its chunks, fewer than its shape needs: the file is damaged or truncated");
}

void Handle::reset() {
  if (id_ != H5I_INVALID_HID && close_) close_(id_);
  id_ = H5I_INVALID_HID;
}

File File::create(const std::string& path) {
  silence_hdf5();
  // The 1.8+ file format: superblock, object headers and their indexes carry checksums, so damaged
  // metadata is refused by HDF5 rather than misread (the 1.0 format default has none).
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  LOWBIT_CHECK(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_LATEST) >= 0, path,
               ": cannot select the HDF5 file format");
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  LOWBIT_CHECK(id >= 0, path, ": cannot create HDF5 file");
  return File(path, Handle(id, H5Fclose));
}

File File::open(const std::string& path, bool writable) {
  silence_hdf5();
  LOWBIT_CHECK(H5Fis_hdf5(path.c_str()) > 0, path,
               ": not a readable HDF5 file (missing, truncated or damaged)");
  const hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
  LOWBIT_CHECK(id >= 0, path, ": cannot open HDF5 file", writable ? " for writing" : "");
  return File(path, Handle(id, H5Fclose));
}

void File::flush() { LOWBIT_CHECK(H5Fflush(id(), H5F_SCOPE_GLOBAL) >= 0, path_, ": flush failed"); }

bool File::exists(const std::string& object) const {
  // Check each level: H5Lexists fails on a path whose parent is missing.
  std::size_t pos = 0;
  while ((pos = object.find('/', pos + 1)) != std::string::npos)
    if (H5Lexists(id(), object.substr(0, pos).c_str(), H5P_DEFAULT) <= 0) return false;
  return H5Lexists(id(), object.c_str(), H5P_DEFAULT) > 0;
}

void File::ensure_group(const std::string& group) {
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = group.find('/', pos + 1);
    const std::string prefix = group.substr(0, pos);
    if (prefix.empty() || prefix == "/" || exists(prefix)) continue;
    Handle g(H5Gcreate2(id(), prefix.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    LOWBIT_CHECK(g.get() >= 0, path_, ": cannot create group ", prefix);
  }
}

void File::remove(const std::string& object) {
  LOWBIT_CHECK(H5Ldelete(id(), object.c_str(), H5P_DEFAULT) >= 0, path_, ": cannot delete ", object);
}

std::vector<std::string> File::children(const std::string& group) const {
  std::vector<std::string> names;
  if (!exists(group) && group != "/") return names;
  H5Literate_by_name(
      id(), group.c_str(), H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
        static_cast<std::vector<std::string>*>(out)->push_back(name);
        return 0;
      },
      &names, H5P_DEFAULT);
  std::sort(names.begin(), names.end());
  return names;
}

void File::write_tensor(const std::string& dataset, const at::Tensor& t) {
  const at::Tensor c = t.contiguous().cpu();
  std::vector<hsize_t> dims(c.sizes().begin(), c.sizes().end());
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  LOWBIT_CHECK(space.get() >= 0, path_, ": cannot make a dataspace for ", dataset);
  const hid_t type = mem_type(c.scalar_type());
  // Chunked with the Fletcher32 filter: every chunk carries a checksum HDF5 verifies on read.
  // Chunks are whole rows, at most ~16 MiB (HDF5 caps a chunk at 4 GiB; a 70B Hessian is 3.3 GB).
  // One-byte data (codes, masks, signs: a few bits of information per byte) is deflated first, at
  // level 1: BiLLM's four mask and four sign planes would otherwise take 8 bytes per weight.
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (c.dim() >= 1 && c.numel() > 0) {
    std::vector<hsize_t> chunk = dims;
    const hsize_t row_bytes = static_cast<hsize_t>(c.numel() / c.size(0) * c.element_size());
    chunk[0] = std::clamp<hsize_t>((hsize_t{16} << 20) / std::max<hsize_t>(row_bytes, 1), 1, dims[0]);
    const bool deflate = c.element_size() == 1 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0;
    LOWBIT_CHECK(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()) >= 0 &&
                     (!deflate || H5Pset_deflate(dcpl.get(), 1) >= 0) && H5Pset_fletcher32(dcpl.get()) >= 0,
                 path_, ": cannot set up checksummed storage for ", dataset);
  }
  Handle ds(H5Dcreate2(id(), dataset.c_str(), type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
  LOWBIT_CHECK(ds.get() >= 0, path_, ": cannot create dataset ", dataset, " (does it exist already?)");
  if (c.numel() > 0)
    LOWBIT_CHECK(H5Dwrite(ds.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data_ptr()) >= 0, path_,
                 ": write of dataset ", dataset, " failed (disk full?)");
}

at::Tensor File::read_tensor(const std::string& dataset) const {
  LOWBIT_CHECK(exists(dataset), path_, ": missing dataset ", dataset);
  Handle ds(H5Dopen2(id(), dataset.c_str(), H5P_DEFAULT), H5Dclose);
  LOWBIT_CHECK(ds.get() >= 0, path_, ": cannot open dataset ", dataset);
  Handle ftype(H5Dget_type(ds.get()), H5Tclose);
  const c10::ScalarType st = scalar_type(ftype.get(), path_ + ": " + dataset);
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  LOWBIT_CHECK(rank >= 0, path_, ": dataset ", dataset, " has an unreadable shape");
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  check_storage(ds.get(), space.get(), dims, c10::elementSize(st), dataset);
  at::Tensor out = at::empty(std::vector<int64_t>(dims.begin(), dims.end()), at::TensorOptions().dtype(st));
  if (out.numel() > 0)
    LOWBIT_CHECK(H5Dread(ds.get(), mem_type(st), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data_ptr()) >= 0, path_,
                 ": read of dataset ", dataset, " failed: ",
                 has_checksum(dataset) ? "its checksum does not match (the file is damaged) or the file is truncated"
                                       : "the file is truncated or damaged");
  return out;
}

bool File::has_checksum(const std::string& dataset) const {
  Handle ds(H5Dopen2(id(), dataset.c_str(), H5P_DEFAULT), H5Dclose);
  LOWBIT_CHECK(ds.get() >= 0, path_, ": cannot open dataset ", dataset);
  Handle dcpl(H5Dget_create_plist(ds.get()), H5Pclose);
  unsigned flags = 0;
  size_t n = 0;
  return H5Pget_filter_by_id2(dcpl.get(), H5Z_FILTER_FLETCHER32, &flags, &n, nullptr, 0, nullptr, nullptr) >= 0;
}

void File::set_attr(const std::string& object, const std::string& name, const std::string& value) {
  if (H5Aexists_by_name(id(), object.c_str(), name.c_str(), H5P_DEFAULT) > 0)
    H5Adelete_by_name(id(), object.c_str(), name.c_str(), H5P_DEFAULT);
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), std::max<size_t>(1, value.size()));
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate_by_name(id(), object.c_str(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT,
                             H5P_DEFAULT),
           H5Aclose);
  LOWBIT_CHECK(a.get() >= 0, path_, ": cannot create attribute ", object, "@", name);
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  LOWBIT_CHECK(H5Awrite(a.get(), type.get(), padded.data()) >= 0, path_, ": cannot write attribute ", object, "@", name);
}

void File::set_attr(const std::string& object, const std::string& name, int64_t value) {
  if (H5Aexists_by_name(id(), object.c_str(), name.c_str(), H5P_DEFAULT) > 0)
    H5Adelete_by_name(id(), object.c_str(), name.c_str(), H5P_DEFAULT);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate_by_name(id(), object.c_str(), name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                             H5P_DEFAULT),
           H5Aclose);
  LOWBIT_CHECK(a.get() >= 0 && H5Awrite(a.get(), H5T_NATIVE_INT64, &value) >= 0, path_, ": cannot write attribute ",
               object, "@", name);
}

bool File::has_attr(const std::string& object, const std::string& name) const {
  return exists(object) || object == "/" ? H5Aexists_by_name(id(), object.c_str(), name.c_str(), H5P_DEFAULT) > 0
                                         : false;
}

std::string File::attr_string(const std::string& object, const std::string& name) const {
  LOWBIT_CHECK(has_attr(object, name), path_, ": missing attribute ", object, "@", name);
  Handle a(H5Aopen_by_name(id(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  Handle type(H5Aget_type(a.get()), H5Tclose);
  LOWBIT_CHECK(H5Tget_class(type.get()) == H5T_STRING && H5Tis_variable_str(type.get()) <= 0, path_, ": attribute ",
               object, "@", name, " is not a fixed-length string");
  std::string value(H5Tget_size(type.get()), '\0');
  LOWBIT_CHECK(H5Aread(a.get(), type.get(), value.data()) >= 0, path_, ": cannot read attribute ", object, "@", name);
  return value.substr(0, value.find('\0'));
}

int64_t File::attr_int(const std::string& object, const std::string& name) const {
  LOWBIT_CHECK(has_attr(object, name), path_, ": missing attribute ", object, "@", name);
  Handle a(H5Aopen_by_name(id(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  Handle type(H5Aget_type(a.get()), H5Tclose);
  LOWBIT_CHECK(H5Tget_class(type.get()) == H5T_INTEGER, path_, ": attribute ", object, "@", name, " is not an integer");
  int64_t v = 0;
  LOWBIT_CHECK(H5Aread(a.get(), H5T_NATIVE_INT64, &v) >= 0, path_, ": cannot read attribute ", object, "@", name);
  return v;
}

std::vector<std::string> File::attr_names(const std::string& object) const {
  std::vector<std::string> names;
  H5Aiterate_by_name(
      id(), object.c_str(), H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5A_info_t*, void* out) -> herr_t {
        static_cast<std::vector<std::string>*>(out)->push_back(name);
        return 0;
      },
      &names, H5P_DEFAULT);
  return names;
}

}  // namespace lowbit::h5
