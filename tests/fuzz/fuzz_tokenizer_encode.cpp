// Fuzzes encoding with the real tokenizers (framework/model/tokenizer.*, byte_level, regex): the
// Llama 3 tokenizer (shared/fixtures/llama3-tokenizer) and the tiny model's. The input is the text.
// Properties: invalid UTF-8 is refused (lowbit::Error), valid text encodes to ids inside the
// vocabulary, and decoding the ids (without the template's BOS) gives the text back byte for byte
// (byte-level BPE with no normalizer is lossless).
#include "framework/model/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

using namespace lowbit;

namespace {

const std::vector<Tokenizer>& tokenizers() {
  static const std::vector<Tokenizer> all = [] {
    std::vector<Tokenizer> v;
    v.push_back(Tokenizer::from_file(LOWBIT_FUZZ_LLAMA3_TOKENIZER));
    v.push_back(Tokenizer::from_file(LOWBIT_FUZZ_TINY_TOKENIZER));
    return v;
  }();
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Load once, outside the timed inputs; the template adds exactly its prefix and suffix ids.
  for (const Tokenizer& tok : tokenizers())
    fuzz::require(tok.encode("x", true).size() == tok.encode("x", false).size() + tok.prefix_ids().size() +
                                                     tok.suffix_ids().size(),
                  "the template adds other ids than its prefix and suffix");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const Tokenizer& tok : tokenizers()) {
    fuzz::refusing([&] {
      const std::vector<int32_t> ids = tok.encode(text, /*add_special_tokens=*/false);
      for (int32_t id : ids) fuzz::require(id >= 0 && id < tok.size(), "encode() gives an id outside the vocabulary");
      fuzz::require(tok.decode(ids) == text, "decode(encode(text)) != text");
    });
  }
  return 0;
}
