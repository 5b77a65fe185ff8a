// Weight digests: XXH64 against the reference implementation's values (python-xxhash 4.1.0,
// xxhash.xxh64(data).hexdigest()), and the digest cache: written beside the model, read back while
// the file's size and time are unchanged, recomputed when the file is rewritten.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <thread>

#include "framework/core/xxhash64.h"
#include "framework/model/fingerprint.h"
#include "framework/model/safetensors_writer.h"
#include "framework/model/weight_digests.h"
#include "tests/support/temp_dir.h"

namespace lowbit {
namespace {

TEST(XxHash64, MatchesTheReferenceImplementation) {
  EXPECT_EQ(xxhash64_hex("", 0), "ef46db3751d8e999");
  EXPECT_EQ(xxhash64_hex("abc", 3), "44bc2cf5ad770999");
  std::string hundred(100, '\0');  // bytes 0..99: the 32-byte stripes, 8-, 4- and 1-byte tails
  std::iota(hundred.begin(), hundred.end(), 0);
  EXPECT_EQ(xxhash64_hex(hundred.data(), hundred.size()), "6ac1e58032166597");
}

class WeightDigestCache : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = dir_.file("m");
    std::filesystem::create_directories(model_);
    test::write_file(model_ + "/config.json", "{}");
    write(1.0f);
  }
  void write(float v) {
    const std::vector<float> a(8, v), b(4, 2.0f);
    write_safetensors(model_ + "/model.safetensors",
                      {{"a", DType::F32, {8}, a.data()}, {"b", DType::F32, {4}, b.data()}});
  }
  std::string cache() const { return model_ + "/.lowbit-weight-digests.json"; }
  test::TempDir dir_;
  std::string model_;
};

TEST_F(WeightDigestCache, DigestsAreOfTheTensorBytesAndCachedBesideTheModel) {
  const WeightDigests d = weight_digests(model_);
  const std::vector<float> a(8, 1.0f);
  EXPECT_EQ(d.at("a"), xxhash64_hex(a.data(), a.size() * sizeof(float)));
  ASSERT_TRUE(std::filesystem::exists(cache()));
  // The cache is what a second call returns: a digest altered in it is believed while the file's
  // size and time are unchanged ...
  nlohmann::json j = nlohmann::json::parse(test::read_file(cache()));
  j["files"]["model.safetensors"]["tensors"]["a"] = "0000000000000000";
  test::write_file(cache(), j.dump());
  EXPECT_EQ(weight_digests(model_).at("a"), "0000000000000000");
  // ... and ignored once the file is rewritten (other values, same size).
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  write(3.0f);
  const std::vector<float> a3(8, 3.0f);
  EXPECT_EQ(weight_digests(model_).at("a"), xxhash64_hex(a3.data(), a3.size() * sizeof(float)));
}

TEST_F(WeightDigestCache, FingerprintChangesWithTheWeights) {
  const std::string before = model_fingerprint(model_);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  write(1.5f);
  EXPECT_NE(model_fingerprint(model_), before);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  write(1.0f);
  EXPECT_EQ(model_fingerprint(model_), before);
}

TEST_F(WeightDigestCache, DamagedCacheIsRecomputedNotTrusted) {
  const WeightDigests d = weight_digests(model_);
  test::write_file(cache(), "{\"format\": \"lowbit-weight-digests\", \"version\": 1, \"files\": [");
  EXPECT_EQ(weight_digests(model_), d);
}

TEST(WeightDifference, NamesChangedMissingAndNewTensors) {
  EXPECT_EQ(describe_weight_difference({{"a", "1"}}, {{"a", "1"}}), "");
  EXPECT_EQ(describe_weight_difference({{"a", "1"}, {"b", "2"}}, {{"a", "9"}, {"c", "3"}}),
            "tensor 'a' has other values, 'b' is missing, 'c' is new");
}

}  // namespace
}  // namespace lowbit
