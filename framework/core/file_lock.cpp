#include "framework/core/file_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "framework/core/error.h"
#include "framework/core/files.h"

namespace lowbit {

namespace {

std::string host_name() {
  char h[256] = {};
  ::gethostname(h, sizeof h - 1);
  return h;
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Creates `path` holding `content` only if it does not exist; false if it does.
bool create_exclusive(const std::string& path, const std::string& content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    LOWBIT_CHECK(errno == EEXIST, path, ": cannot create the lock file: ", std::strerror(errno));
    return false;
  }
  const bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ::close(fd);
  if (!ok) std::remove(path.c_str());
  LOWBIT_CHECK(ok, path, ": cannot write the lock file (disk full?)");
  return true;
}

struct Holder {
  std::string host, what, since;
  long pid = -1;
  bool readable = false;
};

Holder read_holder(const std::string& path) {
  Holder h;
  try {
    const nlohmann::json j = nlohmann::json::parse(read_file(path));
    h.host = j.at("host").get<std::string>();
    h.pid = j.at("pid").get<long>();
    h.what = j.at("what").get<std::string>();
    h.since = j.at("since").get<std::string>();
    h.readable = h.pid > 0;
  } catch (const std::exception&) {  // vanished, half-written or foreign: reported as unreadable
  }
  return h;
}

// The holder is a process of this host that no longer exists.
bool holder_is_dead(const Holder& h) {
  return h.readable && h.host == host_name() && ::kill(static_cast<pid_t>(h.pid), 0) != 0 && errno == ESRCH;
}

}  // namespace

FileLock::FileLock(std::string path, const std::string& what, double wait_seconds) : path_(std::move(path)) {
  const std::string me = nlohmann::json{{"host", host_name()}, {"pid", static_cast<long>(::getpid())},
                                        {"what", what}, {"since", now_utc()}}
                             .dump() + "\n";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_seconds);
  for (;;) {
    if (create_exclusive(path_, me)) return;
    const Holder h = read_holder(path_);
    if (holder_is_dead(h)) {
      // Only one taker renames the stale file away; the others find it gone and retry.
      const std::string aside = path_ + ".stale." + std::to_string(::getpid());
      if (std::rename(path_.c_str(), aside.c_str()) == 0) {
        std::remove(aside.c_str());
        std::fprintf(stderr,
                     "warning: %s: taking over a stale lock: %s by pid %ld on %s since %s, which no longer runs\n",
                     path_.c_str(), h.what.c_str(), h.pid, h.host.c_str(), h.since.c_str());
      }
      continue;
    }
    if (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    if (!h.readable)
      LOWBIT_FAIL(path_, ": locked, and the lock file cannot be read; if no lowbit process uses this directory, "
                  "remove the file");
    LOWBIT_FAIL(path_, ": locked by ", h.what, " (pid ", h.pid, " on ", h.host, ", since ", h.since, ")",
                h.host == host_name() ? "; it is still running: wait for it to finish"
                                      : "; it runs on another host, which cannot be checked from here: if it is no "
                                        "longer running, remove the file");
  }
}

FileLock::~FileLock() { std::remove(path_.c_str()); }

}  // namespace lowbit
