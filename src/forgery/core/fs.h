#pragma once
// Files: atomic writes, whole-file reads with clear errors, the cache folder, run folders.
#include <filesystem>
#include <string>

namespace forgery {

namespace fs = std::filesystem;

// Writes to PATH.tmp-PID in the same folder, flushes to disk, then renames over PATH, so a
// crash leaves either the old file or the new one, never a torn one.
void atomic_write_file(const fs::path& path, const std::string& bytes);
std::string read_file(const fs::path& path, const std::string& what = "file");

// $FORGERY_CACHE, else $XDG_CACHE_HOME/forgery, else ~/.cache/forgery.
fs::path cache_dir();

// Creates a run folder. An existing non-empty folder is refused unless `force` (then its
// contents are replaced); an unwritable location is an error naming the folder.
void prepare_output_dir(const fs::path& dir, bool force);
// The checks of prepare_output_dir without creating or changing anything.
void check_output_dir(const fs::path& dir, bool force);

}  // namespace forgery
