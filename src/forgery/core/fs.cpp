#include "forgery/core/fs.h"

#include <fcntl.h>
#include <sys/file.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
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

namespace {

const char* const kLockName = ".forgery.lock";

// Where the ".tmp-PID" ending of an atomic write's temporary starts in `name` (npos for a
// name that is not one), and the writer's process id.
size_t temporary_suffix(const std::string& name, pid_t* pid = nullptr) {
  const size_t at = name.rfind(".tmp-");
  if (at == std::string::npos || at + 5 == name.size() || name.size() - at - 5 > 9 ||
      name.find_first_not_of("0123456789", at + 5) != std::string::npos)
    return std::string::npos;
  if (pid) *pid = static_cast<pid_t>(std::stol(name.substr(at + 5)));
  return at;
}

// NAME without a temporary's ".tmp-PID" ending.
std::string without_temporary_suffix(const std::string& name) {
  const size_t at = temporary_suffix(name);
  return at == std::string::npos ? name : name.substr(0, at);
}

}  // namespace

void require_folder(const fs::path& dir, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw Error(what + " " + dir.string() + " does not exist");
  if (!fs::is_directory(dir, ec)) throw Error(what + " " + dir.string() + " is not a folder");
}

bool path_within(const fs::path& inner, const fs::path& outer) {
  std::error_code ec;
  const fs::path i = fs::weakly_canonical(fs::absolute(inner, ec), ec);
  const fs::path o = fs::weakly_canonical(fs::absolute(outer, ec), ec);
  auto oi = std::mismatch(o.begin(), o.end(), i.begin(), i.end()).first;
  // A trailing separator leaves an empty last element in `o`.
  return oi == o.end() || (std::next(oi) == o.end() && oi->empty());
}

bool is_run_folder_entry(const std::string& name) {
  static const char* const kEntries[] = {"config.toml", "metrics.jsonl", "metrics.csv", "samples",
                                         "losses.png",  "losses.svg",    "progress.gif", "checkpoints",
                                         "weights",     "report.html",   "machine.txt",  "eval",  "metrics.jsonl.damaged",
                                         kLockName,     ".forgery-write-test"};
  const std::string base = without_temporary_suffix(name);
  for (const char* e : kEntries)
    if (base == e) return true;
  return false;
}

long run_folder_holder(const fs::path& dir) {
  const fs::path file = dir / kLockName;
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  long holder = 0;
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
    ::flock(fd, LOCK_UN);
  } else {
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    holder = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
    if (holder <= 0) holder = -1;
  }
  ::close(fd);
  return holder;
}

namespace {
std::string in_use_message(const fs::path& dir, long holder) {
  return "run folder " + dir.string() + " is in use: another forgery process (" +
         (holder > 0 ? "pid " + std::to_string(holder) : std::string("pid unknown")) +
         ") is training in it; wait for it to end or stop it (Ctrl-C leaves a checkpoint)";
}
}  // namespace

void check_run_folder_free(const fs::path& dir) {
  if (const long holder = run_folder_holder(dir)) throw Error(in_use_message(dir, holder));
}

RunFolderLock::RunFolderLock(const fs::path& dir) {
  const fs::path file = dir / kLockName;
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("cannot lock run folder " + dir.string() + ": " + file.string() + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) throw Error(in_use_message(dir, run_folder_holder(dir)));
    throw Error("cannot lock run folder " + dir.string() + ": " + std::strerror(err));
  }
  const std::string pid = std::to_string(getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    // The lock holds without the id; only the message of a refused second process lacks it.
  }
}

RunFolderLock::~RunFolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the only descriptor releases the lock
}

namespace {
// The first entry below a run folder (relative to it) that no run writes, or "": top-level
// entries by name; inside samples/ PNGs, checkpoints/ .pt files, weights/ .pt and .safetensors
// files (and weights/CHECKPOINT/ folders of them, from export), eval/ .json reports; no links.
std::string entry_no_run_writes(const fs::path& dir, std::error_code& ec) {
  static const std::map<std::string, std::vector<std::string>> kInside = {
      {"samples", {".png"}}, {"checkpoints", {".pt"}}, {"weights", {".pt", ".safetensors"}}, {"eval", {".json"}}};
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const fs::path rel = it->path().lexically_relative(dir);
    const std::string top = rel.begin()->string();
    if (it->is_symlink(ec)) return rel.string();
    if (it.depth() == 0) {
      if (!is_run_folder_entry(top)) return rel.string();
      if (!kInside.count(top)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_directory(ec)) {
      if (top != "weights" || it.depth() > 1) return rel.string();
      continue;
    }
    const std::string ext = fs::path(without_temporary_suffix(rel.filename().string())).extension().string();
    const auto& allowed = kInside.at(top);
    if (std::find(allowed.begin(), allowed.end(), ext) == allowed.end()) return rel.string();
  }
  return "";
}
}  // namespace

void check_output_dir(const fs::path& dir, bool force, const std::vector<KeptPath>& keep) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec))
      throw UsageError("output folder " + dir.string() + " exists and is not a folder");
    if (fs::is_empty(dir, ec)) return;
    if (!force)
      throw UsageError("output folder " + dir.string() +
                       " already exists and is not empty; choose another --out, resume it "
                       "with `forgery resume " + dir.string() + "`, or pass --force to replace it");
    // --force replaces a run, nothing else.
    for (const auto& k : keep)
      if (!k.path.empty() && path_within(k.path, dir))
        throw UsageError("--force would remove " + k.what + " " + k.path.string() + ", which lies in --out " +
                         dir.string() + "; choose another --out");
    if (const std::string foreign = entry_no_run_writes(dir, ec); !foreign.empty())
      throw UsageError("--force replaces only a run folder, and " + dir.string() + " holds '" + foreign +
                       "', which no run writes; choose another --out (or move it away yourself)");
    if (ec) throw Error("cannot read output folder " + dir.string() + ": " + ec.message());
    check_run_folder_free(dir);
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
    pid_t pid = 0;
    if (temporary_suffix(it->path().filename().string(), &pid) == std::string::npos) continue;
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

void prepare_output_folder(const fs::path& dir, const std::string& what) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(what + ": cannot create folder " + dir.string() + ": " + ec.message());
  if (::access(dir.c_str(), W_OK) != 0) throw Error(what + ": folder " + dir.string() + " is not writable");
}

void prepare_output_file(const fs::path& file, const std::string& what) {
  std::error_code ec;
  if (fs::is_directory(file, ec)) throw UsageError(what + ": " + file.string() + " is a folder; give a file name");
  prepare_output_folder(file.parent_path().empty() ? fs::path(".") : file.parent_path(), what + " " + file.string());
}

void prepare_output_dir(const fs::path& dir, bool force, const std::vector<KeptPath>& keep) {
  check_output_dir(dir, force, keep);
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
