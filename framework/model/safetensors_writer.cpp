#include "framework/model/safetensors_writer.h"

#include <nlohmann/json.hpp>
#include <set>

#include "framework/core/error.h"
#include "framework/core/files.h"

namespace lowbit {

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  std::vector<uint64_t> sizes;
  for (const TensorToWrite& t : tensors) {
    LOWBIT_CHECK(!t.name.empty() && t.name != "__metadata__", path, ": invalid tensor name '", t.name, "'");
    LOWBIT_CHECK(names.insert(t.name).second, path, ": tensor '", t.name, "' given twice");
    uint64_t n = dtype_size(t.dtype);
    for (int64_t d : t.shape) {
      LOWBIT_CHECK(d >= 0, path, ": tensor '", t.name, "' has a negative dimension");
      n *= static_cast<uint64_t>(d);
    }
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
    sizes.push_back(n);
    offset += n;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned

  write_file_atomic(path, [&](std::ostream& out) {
    unsigned char len[8];
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i, n >>= 8) len[i] = static_cast<unsigned char>(n & 0xFF);
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    std::string buffer;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      if (tensors[i].produce) {
        buffer.assign(sizes[i], '\0');
        tensors[i].produce(buffer);
        LOWBIT_ASSERT(buffer.size() == sizes[i], "tensor '", tensors[i].name, "' produced ", buffer.size(), " bytes");
        out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      } else {
        LOWBIT_ASSERT(tensors[i].data != nullptr || sizes[i] == 0, "tensor '", tensors[i].name, "' has no data");
        out.write(static_cast<const char*>(tensors[i].data), static_cast<std::streamsize>(sizes[i]));
      }
    }
  });
}

}  // namespace lowbit
