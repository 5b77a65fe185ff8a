#define PCRE2_CODE_UNIT_WIDTH 8
#include "framework/model/regex.h"

#include <pcre2.h>

#include "framework/core/error.h"
#include "framework/core/utf8.h"

namespace lowbit {

struct Regex::Impl {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Impl() {
    if (code) pcre2_code_free(code);
  }
};

Regex::Regex(const std::string& pattern, const std::string& origin) : impl_(std::make_unique<Impl>()) {
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP, &err, &err_offset, nullptr);
  if (!impl_->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    LOWBIT_FAIL(origin, ": regex does not compile at offset ", err_offset, ": ",
                reinterpret_cast<const char*>(msg), " (pattern: ", pattern, ")");
  }
  impl_->jit = pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

void Regex::find_all(std::string_view subject, std::vector<std::pair<std::size_t, std::size_t>>& out) const {
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
  LOWBIT_ASSERT(md != nullptr, "out of memory for PCRE2 match data");
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  std::size_t pos = 0;
  while (pos <= subject.size()) {
    const int rc = impl_->jit ? pcre2_jit_match(impl_->code, s, subject.size(), pos, 0, md, nullptr)
                              : pcre2_match(impl_->code, s, subject.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(md);
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      LOWBIT_FAIL("regex match failed: ", reinterpret_cast<const char*>(msg));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const std::size_t b = ov[0], e = ov[1];
    if (e > b) {
      out.emplace_back(b, e);
      pos = e;
    } else {
      // Empty match: step over one character so the scan advances.
      if (b >= subject.size()) break;
      const std::size_t n = utf8::valid_sequence_length(subject, b);
      pos = b + (n ? n : 1);
    }
  }
  pcre2_match_data_free(md);
}

}  // namespace lowbit
