// Byte-level BPE tokenizer read from a Hugging Face tokenizer.json (the Llama 3 family and any
// GPT-2-style file): added/special tokens are matched first, the text between them goes through
// the pre-tokenizers the file lists (Split with its own regex, ByteLevel), each piece through BPE
// (with `ignore_merges` honoured), then the post-processor the file names (ByteLevel: nothing;
// TemplateProcessing: e.g. a BOS in front). Matches the `tokenizers` package id for id.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lowbit {

class Tokenizer {
 public:
  // Reads and validates tokenizer.json; errors name the file and the field.
  static Tokenizer from_file(const std::string& path);
  static Tokenizer from_json_text(const std::string& text, const std::string& origin);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // `text` must be valid UTF-8 (else lowbit::Error with the byte offset). With
  // add_special_tokens the post-processor's template applies (as tokenizers' encode() default).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Byte-level decoding of the tokens, invalid UTF-8 replaced by U+FFFD as `tokenizers` does.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  // Number of ids (vocabulary plus added tokens).
  int32_t size() const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string& id_to_token(int32_t id) const;  // throws for an unknown id
  // Ids the post-processor puts before / after a single sequence.
  const std::vector<int32_t>& prefix_ids() const;
  const std::vector<int32_t>& suffix_ids() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lowbit
