#include "forgery/data/download.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "forgery/core/error.h"
#include "forgery/features.h"
#include "forgery/core/fs.h"

#if FORGERY_HAVE_OPENSSL
#include <openssl/evp.h>
#endif
#if FORGERY_HAVE_CURL
#include <curl/curl.h>
#endif

namespace forgery {

const std::vector<RemoteDataset>& remote_datasets() {
  static const std::vector<RemoteDataset> sets = {
      {"mnist",
       {"https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"},
       {{"train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"},
        {"train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"},
        {"t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"},
        {"t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"}}},
      {"fashion-mnist",
       {"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"},
       {{"train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"},
        {"train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"},
        {"t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"},
        {"t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"}}},
  };
  return sets;
}

void check_holds_dataset(const std::string& dataset, const std::filesystem::path& dir) {
#if !FORGERY_HAVE_OPENSSL
  (void)dataset;
  (void)dir;
  return;
#endif
  for (const auto& other : remote_datasets()) {
    if (other.name == dataset) continue;
    for (const auto& f : other.files) {
      if (f.name.find("labels") == std::string::npos) continue;
      std::error_code ec;
      const std::filesystem::path path = dir / f.name;
      if (!std::filesystem::is_regular_file(path, ec) || std::filesystem::file_size(path, ec) > (1u << 20)) continue;
      if (md5_file(path) != f.md5) continue;
      throw UsageError("the data folder " + dir.string() + " holds " + other.name + "'s files (" + f.name +
                       " has its checksum), not " + dataset + "'s: set dataset=" + other.name + ", or give the folder of " +
                       dataset + "'s files");
    }
  }
}

const RemoteDataset& remote_dataset(const std::string& name) {
  std::string known;
  for (const auto& d : remote_datasets()) {
    if (d.name == name) return d;
    known += (known.empty() ? "" : ", ") + d.name;
  }
  throw UsageError("unknown dataset '" + name + "' (known: " + known + ")");
}

#if FORGERY_HAVE_OPENSSL
std::string md5_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path.string());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_md5(), nullptr);
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  std::string hex;
  char b[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(b, sizeof b, "%02x", digest[i]);
    hex += b;
  }
  return hex;
}
#else
std::string md5_file(const std::filesystem::path& path) {
  throw Error("cannot check " + path.string() + ": this build has no md5 support (OpenSSL)");
}
#endif

#if FORGERY_HAVE_CURL
bool download_supported() { return true; }

namespace {
size_t write_to_file(char* data, size_t size, size_t n, void* file) {
  return std::fwrite(data, size, n, static_cast<std::FILE*>(file)) * size;
}
struct CurlInit {
  CurlInit() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};
}  // namespace

void download_file(const std::vector<std::string>& urls, const std::filesystem::path& dest,
                   const std::string& md5, const DownloadOptions& options) {
  static CurlInit init;
  std::filesystem::path part = dest;
  part += ".part-" + std::to_string(getpid());
  std::string attempts;
  for (const auto& url : urls) {
    std::FILE* f = std::fopen(part.c_str(), "wb");
    if (!f) throw Error("cannot write " + part.string() + ": " + std::strerror(errno));
    CURL* curl = curl_easy_init();
    char err[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_to_file);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, options.connect_timeout_s);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, options.stall_timeout_s);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "forgery/" FORGERY_VERSION);
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    bool flushed = std::fclose(f) == 0;
    std::string failure;
    if (rc != CURLE_OK) failure = err[0] ? err : curl_easy_strerror(rc);
    else if (!flushed) failure = "cannot write " + part.string();
    else {
      std::string got = md5_file(part);
      if (got != md5) failure = "md5 mismatch (got " + got + ", expected " + md5 + ")";
    }
    if (failure.empty()) {
      std::filesystem::rename(part, dest);
      return;
    }
    std::filesystem::remove(part);
    attempts += "\n  " + url + ": " + failure;
    if (!options.quiet) std::fprintf(stderr, "forgery: %s: %s\n", url.c_str(), failure.c_str());
  }
  throw Error("cannot download " + dest.filename().string() + "; every mirror failed:" + attempts);
}
#else
bool download_supported() { return false; }
void download_file(const std::vector<std::string>&, const std::filesystem::path& dest,
                   const std::string&, const DownloadOptions&) {
  throw Error("cannot download " + dest.filename().string() + ": this build has no download support (libcurl)");
}
#endif

int download_dataset(const std::string& name, const std::filesystem::path& dir,
                     const DownloadOptions& options) {
  const RemoteDataset& set = remote_dataset(name);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("cannot create data folder " + dir.string() + ": " + ec.message());
  const auto& mirrors = options.mirrors.empty() ? set.mirrors : options.mirrors;
  int fetched = 0;
  for (const auto& file : set.files) {
    std::filesystem::path dest = dir / file.name;
    if (std::filesystem::exists(dest)) {
      if (md5_file(dest) == file.md5) continue;
      if (!options.quiet) std::fprintf(stderr, "forgery: %s fails its md5 check; fetching it again\n", dest.c_str());
    }
    std::vector<std::string> urls;
    for (auto base : mirrors) {
      if (!base.empty() && base.back() != '/') base += '/';
      urls.push_back(base + file.name);
    }
    if (!options.quiet) std::fprintf(stderr, "forgery: downloading %s\n", file.name.c_str());
    try {
      download_file(urls, dest, file.md5, options);
    } catch (const Error& e) {
      // The way out when there is no network: the files themselves, from anywhere.
      std::string names;
      for (size_t i = 0; i < set.files.size(); ++i)
        names += (i == 0 ? "" : i + 1 == set.files.size() ? " and " : ", ") + set.files[i].name;
      throw Error(std::string(e.what()) + "\nWithout a network: copy the " + std::to_string(set.files.size()) +
                  " files of " + name + " (" + names + ") into a folder and pass it with --data DIR " +
                  "(or put them in " + dir.string() + ")");
    }
    ++fetched;
  }
  return fetched;
}

}  // namespace forgery
