// The downloader against a local HTTP server on 127.0.0.1 that the test starts.
#include <httplib.h>

#include <fstream>
#include <chrono>
#include <thread>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/data/download.h"
#include "forgery/data/mnist.h"
#include "test_util.h"

namespace forgery {
namespace {

using test::TempDir;

class LocalServer {
 public:
  LocalServer() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~LocalServer() { stop(); }
  void stop() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }
  void serve(const std::string& path, std::string body) {
    server_.Get(path, [body](const httplib::Request&, httplib::Response& res) {
      res.set_content(body, "application/octet-stream");
    });
  }
  void serve_folder(const fs::path& dir) { server_.set_mount_point("/", dir.string()); }
  std::string url(const std::string& path = "/") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

DownloadOptions quick() {
  DownloadOptions o;
  o.quiet = true;
  o.connect_timeout_s = 5;
  o.stall_timeout_s = 5;
  return o;
}

TEST(Download, GoodFileIsVerifiedAndRenamed) {
  TempDir tmp;
  LocalServer server;
  server.serve("/a.bin", "hello forgery");
  // md5("hello forgery")
  TempDir ref;
  std::ofstream(ref / "ref") << "hello forgery";
  std::string md5 = md5_file(ref / "ref");
  download_file({server.url("/a.bin")}, tmp / "a.bin", md5, quick());
  EXPECT_EQ(read_file(tmp / "a.bin"), "hello forgery");
  for (auto& e : fs::directory_iterator(tmp.path())) EXPECT_EQ(e.path().filename(), "a.bin");
}

TEST(Download, CorruptFileIsRejectedAndNothingIsLeft) {
  TempDir tmp;
  LocalServer server;
  server.serve("/a.bin", "tampered");
  try {
    download_file({server.url("/a.bin")}, tmp / "a.bin", "00000000000000000000000000000000", quick());
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("md5 mismatch"), std::string::npos) << msg;
    EXPECT_NE(msg.find(server.url("/a.bin")), std::string::npos) << msg;
  }
  EXPECT_TRUE(fs::is_empty(tmp.path()));
}

TEST(Download, FallsBackToTheNextMirror) {
  TempDir tmp, ref;
  LocalServer server;
  server.serve("/good/a.bin", "payload");
  std::ofstream(ref / "ref") << "payload";
  download_file({server.url("/missing/a.bin"), server.url("/good/a.bin")}, tmp / "a.bin", md5_file(ref / "ref"), quick());
  EXPECT_EQ(read_file(tmp / "a.bin"), "payload");
}

TEST(Download, ServerGoneIsAClearErrorNotAHang) {
  TempDir tmp;
  std::string url;
  {
    LocalServer server;
    url = server.url("/a.bin");
    server.stop();
  }
  auto t0 = std::chrono::steady_clock::now();
  try {
    download_file({url}, tmp / "a.bin", "x", quick());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(url), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30);
  EXPECT_TRUE(fs::is_empty(tmp.path()));
}

TEST(Download, OfflineErrorSaysHowToTrainWithoutANetwork) {
  TempDir tmp;
  std::string url;
  {
    LocalServer server;
    url = server.url("/");
    server.stop();
  }
  DownloadOptions o = quick();
  o.mirrors = {url};
  try {
    download_dataset("mnist", tmp / "mnist", o);
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(url), std::string::npos) << msg;
    EXPECT_NE(msg.find("pass it with --data DIR"), std::string::npos) << msg;
    for (const auto& f : remote_dataset("mnist").files) EXPECT_NE(msg.find(f.name), std::string::npos) << msg;
  }
}

TEST(Download, UnknownDatasetIsNamed) {
  EXPECT_THROW(remote_dataset("cifar"), UsageError);
}

TEST(Download, MnistThroughTheCommandFromALocalMirror) {
  if (!has_mnist_files(test::shared_mnist()))
    GTEST_SKIP() << "no MNIST in " << test::shared_mnist() << " to serve (optional test)";
  TempDir tmp;
  LocalServer server;
  server.serve_folder(test::shared_mnist());
  auto r = test::run_forgery("data download mnist --dir '" + (tmp / "mnist").string() + "' --mirror " + server.url("/"), tmp.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has_mnist_files(tmp / "mnist"));
  EXPECT_NE(r.out.find("4 file(s) downloaded"), std::string::npos) << r.out;
  // Again: everything verified, nothing fetched.
  r = test::run_forgery("data download mnist --dir '" + (tmp / "mnist").string() + "' --mirror " + server.url("/"), tmp.path());
  EXPECT_NE(r.out.find("0 file(s) downloaded"), std::string::npos) << r.out;
  // A mirror serving wrong bytes: md5 mismatch, non-zero exit, no file.
  TempDir bad;
  for (const auto& f : remote_dataset("mnist").files) std::ofstream(bad / f.name) << "not mnist";
  LocalServer bad_server;
  bad_server.serve_folder(bad.path());
  r = test::run_forgery("data download mnist --dir '" + (tmp / "bad").string() + "' --mirror " + bad_server.url("/"), tmp.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("md5 mismatch"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "bad" / "train-images-idx3-ubyte.gz"));
}

}  // namespace
}  // namespace forgery
