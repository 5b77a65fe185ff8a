// The safetensors reader: valid files read back exactly; every malformed file is refused with a
// message naming the file and the tensor.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "framework/model/safetensors.h"
#include "framework/model/safetensors_writer.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"

namespace lowbit {
namespace {

using test::TempDir;
using test::write_file;

// 8-byte little-endian header length, the header text, then `data`.
std::string raw_file(const std::string& header, const std::string& data, uint64_t declared_len = UINT64_MAX) {
  uint64_t n = declared_len == UINT64_MAX ? header.size() : declared_len;
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i, n >>= 8) out[i] = static_cast<char>(n & 0xFF);
  return out + header + data;
}

TEST(Safetensors, WrittenFileReadsBackWithSameShapesDtypesAndBytes) {
  TempDir dir;
  std::vector<float> a{1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -8.5f};
  std::vector<uint16_t> b{0x3F80, 0xC000, 0x0001};  // bf16 bit patterns
  write_safetensors(dir.file("t.safetensors"),
                    {{"a", DType::F32, {2, 3}, a.data()}, {"b", DType::BF16, {3}, b.data()}}, {{"k", "v"}});
  SafetensorsFile f(dir.file("t.safetensors"));
  ASSERT_EQ(f.tensors().size(), 2u);
  const TensorView va = f.view("a");
  EXPECT_EQ(va.info->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(va.info->dtype, DType::F32);
  EXPECT_EQ(std::memcmp(va.data, a.data(), a.size() * 4), 0);
  const TensorView vb = f.view("b");
  EXPECT_EQ(vb.info->dtype, DType::BF16);
  EXPECT_EQ(std::memcmp(vb.data, b.data(), b.size() * 2), 0);
  EXPECT_EQ(f.metadata().at("k"), "v");
}

TEST(Safetensors, FailedRewriteLeavesTheOldFileIntact) {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  float x = 42;
  write_safetensors(path, {{"x", DType::F32, {1}, &x}});
  const std::string before = test::read_file(path);
  TensorToWrite failing{"y", DType::F32, {4}, nullptr};
  failing.produce = [](std::string&) { throw Error("producer failed"); };
  EXPECT_THROW(write_safetensors(path, {failing}), Error);
  EXPECT_EQ(test::read_file(path), before);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()), 1)
      << "the temporary file is left behind";
}

TEST(Safetensors, FileShorterThanHeaderLengthFieldIsRefused) {
  TempDir dir;
  write_file(dir.file("short.safetensors"), "abc");
  EXPECT_LOWBIT_ERROR(SafetensorsFile(dir.file("short.safetensors")), {"short.safetensors", "too short"});
}

TEST(Safetensors, HeaderLengthPastEndOfFileIsRefused) {
  TempDir dir;
  write_file(dir.file("h.safetensors"), raw_file("{}", "", 1000));
  EXPECT_LOWBIT_ERROR(SafetensorsFile(dir.file("h.safetensors")), {"h.safetensors", "header length 1000", "past the end"});
}

TEST(Safetensors, HeaderThatIsNotJsonIsRefused) {
  TempDir dir;
  write_file(dir.file("j.safetensors"), raw_file("{\"a\": [1, 2", ""));
  EXPECT_LOWBIT_ERROR(SafetensorsFile(dir.file("j.safetensors")), {"j.safetensors", "not valid JSON"});
}

TEST(Safetensors, OffsetsPastTheDataSectionAreRefused) {
  TempDir dir;
  write_file(dir.file("o.safetensors"),
             raw_file(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", std::string(8, '\0')));
  EXPECT_LOWBIT_ERROR(SafetensorsFile(dir.file("o.safetensors")), {"o.safetensors", "tensor 'w'", "past the data section"});
}

TEST(Safetensors, OverlappingTensorsAreRefused) {
  TempDir dir;
  write_file(dir.file("ov.safetensors"),
             raw_file(R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                          "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                      std::string(12, '\0')));
  EXPECT_LOWBIT_ERROR(SafetensorsFile(dir.file("ov.safetensors")), {"ov.safetensors", "'y'", "overlap", "'x'"});
}

TEST(Safetensors, ShapeTimesDtypeDifferentFromByteLengthIsRefused) {
  TempDir dir;
  write_file(dir.file("s.safetensors"),
             raw_file(R"({"w": {"dtype": "F16", "shape": [3, 2], "data_offsets": [0, 8]}})", std::string(8, '\0')));
  EXPECT_LOWBIT_ERROR(SafetensorsFile(dir.file("s.safetensors")),
                      {"s.safetensors", "tensor 'w'", "needs 12 bytes", "hold 8"});
}

TEST(Safetensors, UnknownDtypeIsRefused) {
  TempDir dir;
  write_file(dir.file("d.safetensors"),
             raw_file(R"({"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}})", std::string(2, '\0')));
  EXPECT_LOWBIT_ERROR(SafetensorsFile(dir.file("d.safetensors")), {"d.safetensors", "tensor 'w'", "unknown dtype 'F8_E4M3'"});
}

TEST(Safetensors, NegativeOrNonIntegerShapeIsRefused) {
  TempDir dir;
  write_file(dir.file("n.safetensors"),
             raw_file(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", std::string(4, '\0')));
  EXPECT_LOWBIT_ERROR(SafetensorsFile(dir.file("n.safetensors")), {"n.safetensors", "tensor 'w'", "shape"});
}

TEST(Safetensors, EntryMissingAFieldIsRefused) {
  TempDir dir;
  write_file(dir.file("m.safetensors"), raw_file(R"({"w": {"dtype": "F32", "shape": [1]}})", std::string(4, '\0')));
  EXPECT_LOWBIT_ERROR(SafetensorsFile(dir.file("m.safetensors")), {"m.safetensors", "tensor 'w'", "data_offsets"});
}

TEST(Safetensors, MissingTensorLookupNamesFileAndTensor) {
  TempDir dir;
  float x = 1;
  write_safetensors(dir.file("model.safetensors"), {{"present", DType::F32, {1}, &x}});
  SafetensorsModel model(dir.path().string());
  EXPECT_LOWBIT_ERROR(model.view("absent"), {"model.safetensors", "missing tensor 'absent'"});
}

TEST(Safetensors, IndexNamingAMissingFileIsRefused) {
  TempDir dir;
  write_file(dir.file("model.safetensors.index.json"),
             R"({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors"}})");
  EXPECT_LOWBIT_ERROR(SafetensorsModel(dir.path().string()),
                      {"model.safetensors.index.json", "'a'", "model-00001-of-00002.safetensors", "does not exist"});
}

TEST(Safetensors, IndexPointingAtAFileWithoutTheTensorIsRefusedOnUse) {
  TempDir dir;
  float x = 1;
  write_safetensors(dir.file("part1.safetensors"), {{"other", DType::F32, {1}, &x}});
  write_file(dir.file("model.safetensors.index.json"), R"({"weight_map": {"a": "part1.safetensors"}})");
  SafetensorsModel model(dir.path().string());
  EXPECT_LOWBIT_ERROR(model.view("a"), {"model.safetensors.index.json", "'a'", "part1.safetensors", "does not contain"});
}

TEST(Safetensors, ShardedModelOpensOnlyTheShardsAskedFor) {
  TempDir dir;
  float x = 1, y = 2;
  write_safetensors(dir.file("p1.safetensors"), {{"a", DType::F32, {1}, &x}});
  write_safetensors(dir.file("p2.safetensors"), {{"b", DType::F32, {1}, &y}});
  write_file(dir.file("model.safetensors.index.json"),
             R"({"weight_map": {"a": "p1.safetensors", "b": "p2.safetensors"}})");
  write_file(dir.file("p2.safetensors"), "garbage");  // corrupt the shard we will not read
  SafetensorsModel model(dir.path().string());
  EXPECT_EQ(*reinterpret_cast<const float*>(model.view("a").data), 1.0f);
  EXPECT_LOWBIT_ERROR(model.view("b"), {"p2.safetensors", "too short"});
}

}  // namespace
}  // namespace lowbit
