#include "forgery/core/fs.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "forgery/core/error.h"

namespace forgery {

AtomicFile::AtomicFile(fs::path path) : path_(std::move(path)) {
  tmp_ = path_;
  tmp_ += ".tmp-" + std::to_string(getpid());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("cannot write " + path_.string() + ": " + std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFile::write(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0 && error_ == 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = errno;
      break;
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  if (error_ == 0 && ::fsync(fd_) != 0) error_ = errno;
  if (::close(fd_) != 0 && error_ == 0) error_ = errno;
  fd_ = -1;
  if (error_ != 0) {
    ::unlink(tmp_.c_str());
    throw Error("cannot write " + path_.string() + ": " + std::strerror(error_) + " (the previous file, if any, is unchanged)");
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp_.c_str());
    throw Error("cannot replace " + path_.string() + ": " + std::strerror(err));
  }
}

void atomic_write_file(const fs::path& path, const std::string& bytes) {
  AtomicFile out(path);
  out.write(bytes.data(), bytes.size());
  out.commit();
}

void atomic_link_or_copy(const fs::path& target, const fs::path& link) {
  std::error_code ec;
  // Already a link to it: done. (rename() of one link of a file onto another link of the same
  // file does nothing and succeeds, which would leave the temporary behind.)
  if (fs::equivalent(target, link, ec)) return;
  fs::path tmp = link;
  tmp += ".tmp-" + std::to_string(getpid());
  fs::remove(tmp, ec);
  if (::link(target.c_str(), tmp.c_str()) != 0) {
    fs::copy_file(target, tmp, fs::copy_options::overwrite_existing, ec);
    if (ec) throw Error("cannot write " + link.string() + ": " + ec.message());
  }
  if (::rename(tmp.c_str(), link.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw Error("cannot replace " + link.string() + ": " + std::strerror(err));
  }
}

std::string read_file(const fs::path& path, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(what + " " + path.string() + " does not exist");
  if (fs::is_directory(path, ec)) throw Error(what + " " + path.string() + " is a folder, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + what + " " + path.string() + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error("cannot read " + what + " " + path.string());
  return ss.str();
}

fs::path cache_dir() {
  if (const char* c = std::getenv("FORGERY_CACHE"); c && *c) return c;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "forgery";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "forgery";
  return fs::temp_directory_path() / "forgery-cache";
}

void check_output_dir(const fs::path& dir, bool force) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec))
      throw UsageError("output folder " + dir.string() + " exists and is not a folder");
    if (!fs::is_empty(dir, ec) && !force)
      throw UsageError("output folder " + dir.string() +
                       " already exists and is not empty; choose another --out, resume it "
                       "with `forgery resume " + dir.string() + "`, or pass --force to replace it");
    return;
  }
  // The nearest existing ancestor must be a writable folder.
  fs::path parent = fs::absolute(dir, ec).parent_path();
  while (!parent.empty() && !fs::exists(parent, ec)) parent = parent.parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw Error("cannot create output folder " + dir.string() + ": " + parent.string() + " is not a folder");
  if (!parent.empty() && ::access(parent.c_str(), W_OK) != 0)
    throw Error("cannot create output folder " + dir.string() + ": " + parent.string() + " is not writable");
}

int remove_stale_temporaries(const fs::path& dir) {
  int removed = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const size_t at = name.rfind(".tmp-");
    if (at == std::string::npos || at + 5 == name.size()) continue;
    const std::string digits = name.substr(at + 5);
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid == getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // a live writer's
    std::error_code rm;
    if (fs::remove(it->path(), rm)) ++removed;
  }
  return removed;
}

void create_parent_dirs(const fs::path& file, const std::string& what) {
  fs::path dir = file.parent_path();
  if (dir.empty()) return;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(what + " " + file.string() + ": cannot create folder " + dir.string() + ": " + ec.message());
}

void prepare_output_dir(const fs::path& dir, bool force) {
  check_output_dir(dir, force);
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec))
    for (const auto& entry : fs::directory_iterator(dir)) fs::remove_all(entry.path(), ec);
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create output folder " + dir.string() + ": " + ec.message());
  // Probe writability now rather than after the first epoch.
  fs::path probe = dir / ".forgery-write-test";
  std::ofstream out(probe);
  if (!out) throw Error("output folder " + dir.string() + " is not writable");
  out.close();
  fs::remove(probe, ec);
}

}  // namespace forgery
