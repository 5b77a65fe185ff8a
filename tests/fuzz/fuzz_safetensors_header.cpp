// Fuzzes the safetensors reader of a single file (framework/model/safetensors.*): the 8-byte
// little-endian header length, the JSON header and the offsets checked against the data section.
// Input: first byte even -> the rest is the file as is (length field fuzzed too); odd -> the rest is
// "JSON header \0 data" and the target writes the length field, so mutations reach the JSON checks.
// Every tensor the reader accepts is read end to end: its view must lie inside the mapping.
#include <cstring>

#include "framework/model/safetensors.h"
#include "tests/fuzz/fuzz_support.h"

using namespace lowbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string file;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 0) {
    file.assign(rest);
  } else {
    const std::size_t nul = rest.find('\0');
    const std::string_view header = rest.substr(0, nul);
    const std::string_view body = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) file.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
    file.append(header).append(body);
  }
  const auto path = fuzz::scratch_dir() / "model.safetensors";
  fuzz::write_file(path, file);
  fuzz::refusing([&] {
    SafetensorsFile f(path.string());
    const uint64_t data_begin = 8 + (static_cast<uint64_t>(static_cast<uint8_t>(file[0])) |
                                     static_cast<uint64_t>(static_cast<uint8_t>(file[1])) << 8 |
                                     static_cast<uint64_t>(static_cast<uint8_t>(file[2])) << 16 |
                                     static_cast<uint64_t>(static_cast<uint8_t>(file[3])) << 24 |
                                     static_cast<uint64_t>(static_cast<uint8_t>(file[4])) << 32 |
                                     static_cast<uint64_t>(static_cast<uint8_t>(file[5])) << 40 |
                                     static_cast<uint64_t>(static_cast<uint8_t>(file[6])) << 48 |
                                     static_cast<uint64_t>(static_cast<uint8_t>(file[7])) << 56);
    for (const auto& [name, info] : f.tensors()) {
      const TensorView v = f.view(name);
      fuzz::require(v.info == &info, "view() returns another tensor's info");
      fuzz::require(info.numel() * static_cast<int64_t>(dtype_size(info.dtype)) == static_cast<int64_t>(info.nbytes()),
                    "accepted tensor's shape x dtype size differs from its byte range");
      fuzz::require(data_begin + info.end <= file.size(), "accepted tensor runs past the end of the file");
      // Compare with the bytes written: a view outside the mapping or at the wrong offset shows here.
      fuzz::require(std::memcmp(v.data, file.data() + data_begin + info.begin, info.nbytes()) == 0,
                    "tensor view does not hold the file's bytes at its offsets");
    }
    for (const auto& [key, value] : f.metadata()) (void)key.size(), (void)value.size();
  });
  return 0;
}
