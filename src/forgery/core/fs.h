#pragma once
// Files: atomic writes, whole-file reads with clear errors, the cache folder, run folders.
#include <filesystem>
#include <string>

namespace forgery {

namespace fs = std::filesystem;

// Writes to PATH.tmp-PID in the same folder, flushes to disk, then renames over PATH, so a
// crash leaves either the old file or the new one, never a torn one.
void atomic_write_file(const fs::path& path, const std::string& bytes);

// The same for a file written in pieces (large checkpoints are streamed, not held in memory).
// A failed write (disk full, a file size limit) is remembered, not thrown, so that writers
// that cannot take an exception mid-stream stay whole; commit() then throws an Error naming
// the file and removes the temporary. Without commit() the temporary is removed too.
class AtomicFile {
 public:
  explicit AtomicFile(fs::path path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(const void* data, size_t size);
  void commit();
  bool failed() const { return error_ != 0; }

 private:
  fs::path path_, tmp_;
  int fd_ = -1;
  int error_ = 0;
};

// `target` also under the name `link`, atomically (a hard link where the file system has them,
// else a copy): a second name for a checkpoint costs no second write.
void atomic_link_or_copy(const fs::path& target, const fs::path& link);
std::string read_file(const fs::path& path, const std::string& what = "file");

// Creates the folder a file is about to be written in (nothing when it exists); an error names
// `what` (the option) and the folder.
void create_parent_dirs(const fs::path& file, const std::string& what);

// Removes the temporaries (NAME.tmp-PID) that atomic writes of processes no longer running left
// below `dir` (a kill -9 mid-write); returns how many.
int remove_stale_temporaries(const fs::path& dir);

// $FORGERY_CACHE, else $XDG_CACHE_HOME/forgery, else ~/.cache/forgery.
fs::path cache_dir();

// Creates a run folder. An existing non-empty folder is refused unless `force` (then its
// contents are replaced); an unwritable location is an error naming the folder.
void prepare_output_dir(const fs::path& dir, bool force);
// The checks of prepare_output_dir without creating or changing anything.
void check_output_dir(const fs::path& dir, bool force);

}  // namespace forgery
