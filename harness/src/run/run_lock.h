// Which process is writing a run: an open-file-description lock on one byte of the
// database file, far past the ranges SQLite locks, so it never interferes with
// SQLite's own locking. The kernel drops it when its holder dies (kill -9 included),
// so a killed run can be resumed at once, while two live `--resume` of one run
// cannot both write it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace attnbench {

class RunLock {
 public:
  /// Takes the lock of run `run_id` in the database at `db_path`; nullopt if another
  /// live process holds it. Throws std::runtime_error if the file cannot be opened.
  static std::optional<RunLock> try_acquire(const std::string& db_path, int64_t run_id);
  RunLock(RunLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  RunLock& operator=(RunLock&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  RunLock(const RunLock&) = delete;
  ~RunLock();

 private:
  explicit RunLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace attnbench
