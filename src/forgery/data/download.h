#pragma once
// Dataset downloads from public mirrors, md5-checked, written under a temporary name and
// renamed only when verified. No torch here.
#include <filesystem>
#include <string>
#include <vector>

namespace forgery {

struct RemoteFile {
  std::string name, md5;
};
struct RemoteDataset {
  std::string name;
  std::vector<std::string> mirrors;  // base URLs ending in '/'
  std::vector<RemoteFile> files;
};

const std::vector<RemoteDataset>& remote_datasets();
const RemoteDataset& remote_dataset(const std::string& name);  // UsageError if unknown

struct DownloadOptions {
  std::vector<std::string> mirrors;  // replaces the dataset's own when not empty
  long connect_timeout_s = 20;
  long stall_timeout_s = 60;  // abort when under 1 KiB/s for this long
  bool quiet = false;
};

bool download_supported();
// Where `dir` holds another known dataset's files than `dataset` names (MNIST's and
// Fashion-MNIST's have the same format and names: only their checksums tell them apart),
// UsageError naming the file and both datasets. Checks the small label files only; nothing
// where a file is absent, uncompressed or not any known dataset's, or without md5 support.
void check_holds_dataset(const std::string& dataset, const std::filesystem::path& dir);
std::string md5_file(const std::filesystem::path& path);
// Fetches every file of the dataset missing (or wrong) in `dir`; returns the number fetched.
int download_dataset(const std::string& name, const std::filesystem::path& dir,
                     const DownloadOptions& options = {});
// One file: tries each URL in turn; the error lists every attempt.
void download_file(const std::vector<std::string>& urls, const std::filesystem::path& dest,
                   const std::string& md5, const DownloadOptions& options);

}  // namespace forgery
