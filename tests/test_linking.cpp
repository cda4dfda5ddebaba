// The C++ runtime Forgery's own code binds to. LibTorch in PyTorch 2.x wheels exports copies of
// libstdc++'s std::filesystem; when libtorch came before libstdc++ in a binary's libraries, those
// copies won the lookup and crashed (see CMakeLists.txt). On Debian's LibTorch this holds either
// way; on a wheel build it fails without libstdc++ first.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace {

std::string defining_library(const void* fn) {
  Dl_info info{};
  if (dladdr(fn, &info) == 0 || info.dli_fname == nullptr) return "(unknown)";
  return info.dli_fname;
}

TEST(Linking, StdFilesystemResolvesToLibstdcxx) {
  using RemoveAll = std::uintmax_t (*)(const std::filesystem::path&, std::error_code&);
  using Exists = bool (*)(const std::filesystem::path&, std::error_code&) noexcept;
  using CreateDirs = bool (*)(const std::filesystem::path&, std::error_code&);
  const std::string lib[] = {
      defining_library(reinterpret_cast<const void*>(static_cast<RemoveAll>(&std::filesystem::remove_all))),
      defining_library(reinterpret_cast<const void*>(static_cast<Exists>(&std::filesystem::exists))),
      defining_library(reinterpret_cast<const void*>(static_cast<CreateDirs>(&std::filesystem::create_directories))),
  };
  for (const auto& l : lib) {
    // exists() may be inline (defined in the test binary itself); the others live in a library.
    if (l.find("forgery_tests") != std::string::npos) continue;
    EXPECT_NE(l.find("libstdc++"), std::string::npos) << "std::filesystem bound to " << l;
  }
  EXPECT_NE(lib[0].find("libstdc++"), std::string::npos) << "remove_all bound to " << lib[0];
}

}  // namespace
