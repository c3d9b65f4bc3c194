#include "run_lock.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>
#include <stdexcept>

namespace attnbench {
namespace {

// SQLite locks bytes from 1 GiB up to 1 GiB + 512; run locks start at 2^40.
constexpr off_t kRunLockBase = off_t{1} << 40;

}  // namespace

std::optional<RunLock> RunLock::try_acquire(const std::string& db_path, int64_t run_id) {
  const int fd = open(db_path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(fmt::format("cannot open '{}' to lock run {}: {}", db_path, run_id, strerror(errno)));
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = kRunLockBase + run_id;
  fl.l_len = 1;
  if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return RunLock(fd);
  const int err = errno;
  close(fd);
  if (err == EAGAIN || err == EACCES) return std::nullopt;
  throw std::runtime_error(fmt::format("cannot lock run {} in '{}': {}", run_id, db_path, strerror(err)));
}

RunLock::~RunLock() {
  if (fd_ >= 0) close(fd_);  // closing the description releases the lock
}

}  // namespace attnbench
