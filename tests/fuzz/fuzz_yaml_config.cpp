// Fuzzes the YAML experiment config (framework/config/yaml_reader.*, experiment_config.*,
// model_ref.*, the methods' parameter checks) with key=value overrides.
// Input: the YAML document, then optionally a NUL byte and overrides one per line ("a.b=value").
// The process works in the source tree (LLVMFuzzerInitialize changes into it), so a config's
// relative `model: configs/models/....yaml` resolves as it does for `lowbit quantize` run from the
// repository root; give libFuzzer absolute corpus paths (launch/fuzz.sh does).
#include <unistd.h>

#include "framework/config/experiment_config.h"
#include "tests/fuzz/fuzz_support.h"

using namespace lowbit;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (::chdir(LOWBIT_FUZZ_SOURCE_DIR) != 0) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = in.find('\0');
  std::vector<std::string> overrides;
  if (nul != std::string_view::npos) {
    std::string_view rest = in.substr(nul + 1);
    while (!rest.empty() && overrides.size() < 8) {
      const std::size_t nl = rest.find('\n');
      overrides.emplace_back(rest.substr(0, nl));
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    }
  }
  const auto path = fuzz::scratch_dir() / "experiment.yaml";
  fuzz::write_file(path, in.substr(0, nul));
  fuzz::refusing([&] {
    const ExperimentConfig c = ExperimentConfig::from_yaml(path.string(), overrides);
    fuzz::require(!c.method.empty() && c.calibration.nsamples >= 1 && c.distributed.micro_batch >= 1,
                  "accepted config without a method or with empty sizes");
  });
  return 0;
}
