#pragma once
// Files: atomic writes, whole-file reads with clear errors, the cache folder, run folders.
#include <filesystem>
#include <string>
#include <vector>

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

// Before the work that makes an output file: an error naming `what` (the option and its value)
// where `file` is a folder or its folder cannot be created or written; the folder is created.
void prepare_output_file(const fs::path& file, const std::string& what);
// The same for a folder that files are written in (created when missing).
void prepare_output_folder(const fs::path& dir, const std::string& what);

// Removes the temporaries (NAME.tmp-PID) that atomic writes of processes no longer running left
// below `dir` (a kill -9 mid-write); returns how many.
int remove_stale_temporaries(const fs::path& dir);

// $FORGERY_CACHE, else $XDG_CACHE_HOME/forgery, else ~/.cache/forgery.
fs::path cache_dir();

// A path that replacing a run folder must leave alone (the data, a weights file to start from),
// and what it is, for the error ("the data folder (--data)").
struct KeptPath {
  fs::path path;
  std::string what;
};

// Whether `inner` is `outer` or lies below it, as they are on disk (links resolved; either may
// not exist yet).
bool path_within(const fs::path& inner, const fs::path& outer);
// An Error naming `what` and `dir` where `dir` does not exist or is not a folder.
void require_folder(const fs::path& dir, const std::string& what);

// Whether `name` is one of the entries Forgery writes in a run folder (config.toml, checkpoints,
// samples, ..., their temporaries): what --force may remove.
bool is_run_folder_entry(const std::string& name);

// Creates a run folder. An existing non-empty folder is refused unless `force`, and then only
// when it holds nothing but a run's files, none of `keep` lies in it, and no process is
// training in it (its contents are then replaced); an unwritable location is an error naming
// the folder.
void prepare_output_dir(const fs::path& dir, bool force, const std::vector<KeptPath>& keep = {});
// The checks of prepare_output_dir without creating or changing anything.
void check_output_dir(const fs::path& dir, bool force, const std::vector<KeptPath>& keep = {});

// The lock a training process holds on its run folder while it trains or resumes it: an
// advisory lock on RUN/.forgery.lock (holding the process id), released by the kernel when the
// process ends, however it ends. A second train --force, resume or data-parallel rank 0 of the
// same folder is refused while the first runs, instead of both writing it.
class RunFolderLock {
 public:
  explicit RunFolderLock(const fs::path& dir);  // throws Error naming the folder and the holder
  ~RunFolderLock();
  RunFolderLock(const RunFolderLock&) = delete;
  RunFolderLock& operator=(const RunFolderLock&) = delete;

 private:
  int fd_ = -1;
};
// The process id of a live process training in `dir` (0 when none holds its lock; -1 when one
// holds it but its id cannot be read).
long run_folder_holder(const fs::path& dir);
// Throws the Error RunFolderLock would where a process is training in `dir`.
void check_run_folder_free(const fs::path& dir);

}  // namespace forgery
