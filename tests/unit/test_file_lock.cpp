// The lock file of a run directory (framework/core/file_lock): a live holder is refused by name, a
// holder on another host is refused with the file to remove, a dead holder of this host is taken
// over with a warning, and the file is gone once the holder lets go.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "framework/core/file_lock.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"

namespace lowbit {
namespace {

std::string this_host() {
  char h[256] = {};
  ::gethostname(h, sizeof h - 1);
  return h;
}

void write_holder(const std::string& path, const std::string& host, long pid) {
  test::write_file(path, nlohmann::json{{"host", host}, {"pid", pid}, {"what", "lowbit quantize a.yaml"},
                                        {"since", "2026-12-01T10:00:00Z"}}
                             .dump());
}

TEST(FileLock, SecondTakerIsRefusedNamingTheHolderAndTheFileGoesWithTheHolder) {
  test::TempDir dir;
  const std::string path = dir.file("run.lock");
  {
    const FileLock held(path, "lowbit quantize a.yaml");
    ASSERT_TRUE(std::filesystem::exists(path));
    EXPECT_LOWBIT_ERROR(FileLock(path, "lowbit quantize b.yaml"),
                        {path, "locked by lowbit quantize a.yaml", "pid " + std::to_string(::getpid()), "still running"});
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  const FileLock again(path, "lowbit quantize b.yaml");  // free again
}

TEST(FileLock, LockOfAnotherHostIsRefusedWithTheFileToRemove) {
  test::TempDir dir;
  const std::string path = dir.file("run.lock");
  write_holder(path, "some-other-node", 12345);
  EXPECT_LOWBIT_ERROR(FileLock(path, "lowbit quantize b.yaml"),
                      {"pid 12345 on some-other-node", "another host", "remove the file"});
  EXPECT_TRUE(std::filesystem::exists(path)) << "another host's lock was broken";
}

TEST(FileLock, StaleLockOfADeadProcessIsReportedAndTakenOver) {
  test::TempDir dir;
  const std::string path = dir.file("run.lock");
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);  // a process that has ended: its pid names no process once reaped
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);
  write_holder(path, this_host(), child);
  testing::internal::CaptureStderr();
  {
    const FileLock taken(path, "lowbit quantize b.yaml");
    const nlohmann::json holder = nlohmann::json::parse(test::read_file(path));
    EXPECT_EQ(holder.at("pid").get<long>(), static_cast<long>(::getpid()));
  }
  const std::string warning = testing::internal::GetCapturedStderr();
  EXPECT_NE(warning.find("taking over a stale lock"), std::string::npos) << warning;
  EXPECT_NE(warning.find("pid " + std::to_string(child)), std::string::npos) << warning;
}

TEST(FileLock, UnreadableLockIsRefusedNotBroken) {
  test::TempDir dir;
  const std::string path = dir.file("run.lock");
  test::write_file(path, "garbage");
  EXPECT_LOWBIT_ERROR(FileLock(path, "x"), {path, "cannot be read", "remove the file"});
  EXPECT_EQ(test::read_file(path), "garbage");
}

}  // namespace
}  // namespace lowbit
