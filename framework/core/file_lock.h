// A lock file naming its holder (host, pid, what it does, since when), created atomically
// (O_CREAT | O_EXCL, which also holds on NFS and Lustre, where HDF5's own file locking is usually
// off). Two `lowbit quantize` on one run directory, or two evaluations updating one results file,
// would otherwise write the same files. A lock whose holder is a process of this host that no longer
// runs (a killed job) is reported and taken over; one held by a live process, or by another host
// (whose processes cannot be checked from here), is refused naming the holder and the file to
// remove if that holder is known to be dead. Never broken silently.
#pragma once

#include <string>

namespace lowbit {

class FileLock {
 public:
  // Takes `path` for `what` ("quantize", "results update"), waiting up to `wait_seconds` for a live
  // holder to let go; throws lowbit::Error naming the holder otherwise.
  FileLock(std::string path, const std::string& what, double wait_seconds = 0);
  ~FileLock();  // removes the file
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  std::string path_;
};

}  // namespace lowbit
