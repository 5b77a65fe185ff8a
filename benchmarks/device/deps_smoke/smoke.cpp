// One test per library that lowbit links besides libtorch (benchmarks/device/deps_smoke).
#define PCRE2_CODE_UNIT_WIDTH 8
#define OMPI_SKIP_MPICXX 1  // the C API only, as framework/dist/mpi_communicator.cpp
#include <CLI/CLI.hpp>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <mpi.h>
#include <nlohmann/json.hpp>
#include <pcre2.h>
#include <yaml-cpp/yaml.h>
#include <zlib.h>

#include <cstdio>
#include <string>

TEST(DepsSmoke, Mpi) {
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int n = 0;
  ASSERT_EQ(MPI_Get_library_version(version, &n), MPI_SUCCESS);
  std::printf("MPI: %.*s\n", 40, version);
}

TEST(DepsSmoke, Hdf5) {
  const std::string path = ::testing::TempDir() + "deps_smoke.h5";
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  const hsize_t dims[1] = {4};
  const hid_t space = H5Screate_simple(1, dims, nullptr);
  const hid_t d = H5Dcreate2(f, "x", H5T_NATIVE_INT, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const int v[4] = {1, 2, 3, 4};
  EXPECT_GE(H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
  H5Dclose(d);
  H5Sclose(space);
  H5Fclose(f);
  std::remove(path.c_str());
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  std::printf("HDF5: %u.%u.%u\n", maj, min, rel);
}

TEST(DepsSmoke, YamlJsonCli) {
  EXPECT_EQ(YAML::Load("a: 3")["a"].as<int>(), 3);
  EXPECT_EQ(nlohmann::json::parse(R"({"a": [1, 2]})")["a"][1].get<int>(), 2);
  CLI::App app("smoke");
  int k = 0;
  app.add_option("-k", k);
  const char* argv[] = {"smoke", "-k", "5"};
  app.parse(3, argv);
  EXPECT_EQ(k, 5);
}

TEST(DepsSmoke, ZlibPcre2) {
  const std::string text(1000, 'a');
  uLongf n = compressBound(text.size());
  std::string buf(n, '\0');
  ASSERT_EQ(compress(reinterpret_cast<Bytef*>(buf.data()), &n, reinterpret_cast<const Bytef*>(text.data()), text.size()), Z_OK);
  EXPECT_LT(n, 100u);
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>("\\p{L}+"), PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
  ASSERT_NE(re, nullptr);
  EXPECT_EQ(pcre2_jit_compile(re, PCRE2_JIT_COMPLETE), 0);
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(re, nullptr);
  EXPECT_GT(pcre2_match(re, reinterpret_cast<PCRE2_SPTR>("  héllo"), PCRE2_ZERO_TERMINATED, 0, 0, md, nullptr), 0);
  pcre2_match_data_free(md);
  pcre2_code_free(re);
}
