#include "atomic_write.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace attnbench::reports {

namespace {

[[noreturn]] void fail(const std::string& path, const char* what, int err, const std::string& tmp) {
  if (!tmp.empty()) ::unlink(tmp.c_str());
  throw std::runtime_error(fmt::format("cannot write '{}': {} ({})", path, what, std::strerror(err)));
}

}  // namespace

void write_file_atomically(const std::string& path, std::string_view content) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, "cannot create temporary file", errno, "");
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      fail(path, "write failed", err, tmp);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  // fsync before rename: otherwise a crash can leave a renamed but empty file.
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    fail(path, "fsync failed", err, tmp);
  }
  if (::close(fd) != 0) fail(path, "close failed", errno, tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(path, "rename failed", errno, tmp);
}

}  // namespace attnbench::reports
