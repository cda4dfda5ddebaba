#pragma once
// Helpers shared by the tests: temporary folders, generated MNIST-format data, running the
// forgery binary.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "forgery/core/error.h"
#include "forgery/data/idx.h"

namespace forgery::test {

namespace fs = std::filesystem;

// The message of the forgery::Error that `f` throws, or "(no error)".
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

inline fs::path fixture(const std::string& name) { return fs::path(FORGERY_FIXTURES) / name; }

// A fresh folder per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "forgery";
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("forgery-test-" + name + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& s) const { return path_ / s; }

 private:
  fs::path path_;
};

inline void write_bytes(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline void write_gzip(const fs::path& p, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

inline std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// MNIST-format files with `n_train`/`n_test` 28x28 images: a bright bar whose position
// depends on the label, plus noise, so a GAN has something to learn.
inline void write_fake_mnist(const fs::path& dir, int64_t n_train, int64_t n_test, bool gz = true,
                             uint32_t seed = 5) {
  fs::create_directories(dir);
  std::mt19937 rng(seed);
  auto make = [&](const std::string& prefix, int64_t n) {
    IdxArray images{{n, 28, 28}, std::vector<uint8_t>(static_cast<size_t>(n) * 784)};
    IdxArray labels{{n}, std::vector<uint8_t>(static_cast<size_t>(n))};
    for (int64_t i = 0; i < n; ++i) {
      uint8_t label = static_cast<uint8_t>(rng() % 10);
      labels.data[i] = label;
      for (int y = 0; y < 28; ++y)
        for (int x = 0; x < 28; ++x) {
          bool bar = x >= 4 + 2 * label && x < 7 + 2 * label && y > 4 && y < 24;
          images.data[i * 784 + y * 28 + x] = bar ? static_cast<uint8_t>(200 + rng() % 56) : static_cast<uint8_t>(rng() % 20);
        }
    }
    auto write = gz ? write_gzip : write_bytes;
    write(dir / (prefix + "-images-idx3-ubyte" + (gz ? ".gz" : "")), encode_idx(images));
    write(dir / (prefix + "-labels-idx1-ubyte" + (gz ? ".gz" : "")), encode_idx(labels));
  };
  make("train", n_train);
  make("t10k", n_test);
}

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs the forgery binary with `args` (a shell-quoted string), capturing both streams.
inline CommandResult run_forgery(const std::string& args, const fs::path& workdir = fs::temp_directory_path()) {
  static int counter = 0;
  fs::path out = workdir / ("stdout-" + std::to_string(getpid()) + "-" + std::to_string(counter));
  fs::path err = workdir / ("stderr-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
  std::string cmd = "cd '" + workdir.string() + "' && '" + std::string(FORGERY_BINARY) + "' " + args + " >'" +
                    out.string() + "' 2>'" + err.string() + "' </dev/null";
  int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::error_code ec;
    fs::remove(p, ec);
    return s;
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

inline fs::path shared_mnist() { return fs::path(FORGERY_SHARED_DATASETS) / "mnist"; }

}  // namespace forgery::test
