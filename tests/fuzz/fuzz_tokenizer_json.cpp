// Fuzzes Tokenizer construction from tokenizer.json text (framework/model/tokenizer.*): the BPE
// model (vocab, merges in both spellings, byte-level alphabet), added tokens, pre-tokenizers (Split
// regexes through PCRE2, ByteLevel), post-processor templates, decoder. A file it accepts must then
// encode: a few fixed texts are encoded and decoded, and every id must be one the tokenizer has.
#include "framework/model/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

using namespace lowbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::refusing([&] {
    const Tokenizer tok = Tokenizer::from_json_text(text, "tokenizer.json");
    for (const char* s : {"", "Hello world!", " a  b\n\nc 123 4567", "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x99\x82",
                          "<|begin_of_text|>x<|eot_id|>", "don't   'LL \t\r\n"}) {
      for (bool special : {false, true}) {
        const std::vector<int32_t> ids = tok.encode(s, special);
        for (int32_t id : ids) fuzz::require(id >= 0 && id < tok.size(), "encode() gives an id outside the vocabulary");
        fuzz::refusing([&] { (void)tok.decode(ids, special); });
      }
    }
    for (int32_t id : tok.prefix_ids()) fuzz::require(id >= 0 && id < tok.size(), "template id outside the vocabulary");
    for (int32_t id : tok.suffix_ids()) fuzz::require(id >= 0 && id < tok.size(), "template id outside the vocabulary");
  });
  return 0;
}
