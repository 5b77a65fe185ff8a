// Fuzzes a sharded model's index (model.safetensors.index.json, framework/model/safetensors.*):
// the weight_map, file names confined to the model directory, and the lazy opening of the shards it
// names. The input is the index file; the model directory also holds two valid shards (tensors
// "model.embed_tokens.weight", "model.norm.weight" in the first, "lm_head.weight" in the second),
// so an index that names them reaches the shard look-ups.
#include <cstring>

#include "framework/model/safetensors.h"
#include "tests/fuzz/fuzz_support.h"

using namespace lowbit;

namespace {

// A safetensors file of F32 tensors named `names`, each of shape [2] with values 1..2.
std::string small_safetensors(std::initializer_list<const char*> names) {
  std::string header = "{";
  std::string body;
  for (const char* n : names) {
    const std::size_t at = body.size();
    header += std::string(header.size() > 1 ? "," : "") + "\"" + n + "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" +
              std::to_string(at) + "," + std::to_string(at + 8) + "]}";
    const float v[2] = {1.0f, 2.0f};
    body.append(reinterpret_cast<const char*>(v), sizeof v);
  }
  header += "}";
  std::string file;
  for (int i = 0; i < 8; ++i) file.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xFF));
  return file + header + body;
}

const std::filesystem::path& model_dir() {
  static const std::filesystem::path dir = [] {
    const auto d = fuzz::scratch_dir() / "model";
    std::filesystem::create_directories(d);
    fuzz::write_file(d / "model-00001-of-00002.safetensors",
                     small_safetensors({"model.embed_tokens.weight", "model.norm.weight"}));
    fuzz::write_file(d / "model-00002-of-00002.safetensors", small_safetensors({"lm_head.weight"}));
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto index = model_dir() / "model.safetensors.index.json";
  fuzz::write_file(index, data, size);
  fuzz::refusing([&] {
    SafetensorsModel m(model_dir().string());
    fuzz::require(m.sharded(), "a directory with an index read as a single file");
    const std::vector<std::string> files = m.files();
    for (const std::string& f : files)
      fuzz::require(std::filesystem::path(f).parent_path() == model_dir(), "index names a file outside the model directory");
    int n = 0;
    for (const std::string& name : m.names()) {
      if (++n > 8) break;  // bounded work per input; the look-up code is the same for every name
      fuzz::refusing([&] {
        const TensorView v = m.view(name);
        fuzz::require(*v.file == m.file_of(name), "view() reads another file than file_of()");
        fuzz::require(v.info->nbytes() == 8, "shard tensor has the wrong size");
        float x[2];
        std::memcpy(x, v.data, sizeof x);
        fuzz::require(x[0] == 1.0f && x[1] == 2.0f, "shard tensor read at the wrong offset");
        m.release(name);
      });
    }
  });
  return 0;
}
