#include <torch/torch.h>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/data/download.h"
#include "forgery/data/idx.h"
#include "forgery/features.h"
#include "forgery/data/mnist.h"
#include "forgery/data/tensor_dataset.h"
#include "test_util.h"

namespace forgery {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

std::string load_error(const fs::path& dir) {
  try {
    load_mnist(dir, true);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Idx, RawAndGzipReadTheSame) {
  TempDir tmp;
  test::write_fake_mnist(tmp / "gz", 50, 10, true);
  test::write_fake_mnist(tmp / "raw", 50, 10, false);
  auto a = load_mnist(tmp / "gz", true), b = load_mnist(tmp / "raw", true);
  EXPECT_EQ(a.count, 50);
  EXPECT_EQ(a.height, 28);
  EXPECT_EQ(a.width, 28);
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_EQ(a.labels, b.labels);
  auto t = load_mnist(tmp / "gz", false);
  EXPECT_EQ(t.count, 10);
}

TEST(Idx, FindsDottedFileNames) {
  TempDir tmp;
  test::write_fake_mnist(tmp.path(), 20, 5, false);
  fs::rename(tmp / "train-images-idx3-ubyte", tmp / "train-images.idx3-ubyte");
  EXPECT_EQ(load_mnist(tmp.path(), true).count, 20);
}

TEST(Idx, WrongMagicIsNamed) {
  TempDir tmp;
  test::write_fake_mnist(tmp.path(), 20, 5, false);
  auto bytes = test::read_bytes(tmp / "train-images-idx3-ubyte");
  bytes[0] = 0x1f;
  test::write_bytes(tmp / "train-images-idx3-ubyte", bytes);
  std::string msg = load_error(tmp.path());
  EXPECT_NE(msg.find("train-images-idx3-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("magic"), std::string::npos) << msg;
}

TEST(Idx, TruncatedRawAndGzipAreNamed) {
  TempDir tmp;
  test::write_fake_mnist(tmp / "raw", 20, 5, false);
  auto bytes = test::read_bytes(tmp / "raw" / "train-images-idx3-ubyte");
  bytes.resize(bytes.size() - 100);
  test::write_bytes(tmp / "raw" / "train-images-idx3-ubyte", bytes);
  std::string msg = load_error(tmp / "raw");
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train-images-idx3-ubyte"), std::string::npos) << msg;

  test::write_fake_mnist(tmp / "gz", 20, 5, true);
  auto gz = test::read_bytes(tmp / "gz" / "train-images-idx3-ubyte.gz");
  gz.resize(gz.size() / 2);
  test::write_bytes(tmp / "gz" / "train-images-idx3-ubyte.gz", gz);
  msg = load_error(tmp / "gz");
  EXPECT_NE(msg.find("train-images-idx3-ubyte.gz"), std::string::npos) << msg;
  EXPECT_TRUE(msg.find("truncated") != std::string::npos || msg.find("corrupt") != std::string::npos) << msg;
}

TEST(Idx, CorruptGzipIsNamed) {
  TempDir tmp;
  test::write_fake_mnist(tmp.path(), 20, 5, true);
  auto gz = test::read_bytes(tmp / "train-labels-idx1-ubyte.gz");
  for (size_t i = 12; i < gz.size() - 8; ++i) gz[i] ^= 0x5a;
  test::write_bytes(tmp / "train-labels-idx1-ubyte.gz", gz);
  std::string msg = load_error(tmp.path());
  EXPECT_NE(msg.find("train-labels-idx1-ubyte.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("corrupt"), std::string::npos) << msg;
}

TEST(Idx, TrailingBytesAndHugeDimensionsAreRejected) {
  TempDir tmp;
  IdxArray a{{2, 2}, {1, 2, 3, 4}};
  auto bytes = encode_idx(a);
  bytes.push_back(9);
  test::write_bytes(tmp / "x.idx", bytes);
  EXPECT_THROW(read_idx(tmp / "x.idx"), Error);
  test::write_bytes(tmp / "huge.idx", {0, 0, 8, 3, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1});
  EXPECT_THROW(read_idx(tmp / "huge.idx"), Error);
  test::write_bytes(tmp / "empty.idx", {});
  EXPECT_THROW(read_idx(tmp / "empty.idx"), Error);
  // 2^30 x 32 x 2^30 x 4 elements wrap around 64 bits to 0: refused, not read as an empty array.
  const std::vector<uint8_t> wraps = {0, 0, 8, 4, 0x40, 0, 0, 0, 0, 0, 0, 32, 0x40, 0, 0, 0, 0, 0, 0, 4};
  std::string msg = test::error_message([&] { decode_idx(wraps, "IDX file w"); });
  EXPECT_NE(msg.find("IDX file w declares an impossibly large array"), std::string::npos) << msg;
}

TEST(Idx, ImageAndLabelCountMismatchIsNamed) {
  TempDir tmp;
  test::write_fake_mnist(tmp.path(), 20, 5, false);
  IdxArray labels{{19}, std::vector<uint8_t>(19, 1)};
  test::write_bytes(tmp / "train-labels-idx1-ubyte", encode_idx(labels));
  std::string msg = load_error(tmp.path());
  EXPECT_NE(msg.find("20 images"), std::string::npos) << msg;
  EXPECT_NE(msg.find("19 labels"), std::string::npos) << msg;
}

TEST(Idx, BadLabelsAndWrongRankAreRejected) {
  TempDir tmp;
  test::write_fake_mnist(tmp.path(), 20, 5, false);
  IdxArray labels{{20}, std::vector<uint8_t>(20, 11)};
  test::write_bytes(tmp / "train-labels-idx1-ubyte", encode_idx(labels));
  EXPECT_NE(load_error(tmp.path()).find("label 11"), std::string::npos);
  IdxArray flat{{20, 784}, std::vector<uint8_t>(20 * 784)};
  test::write_bytes(tmp / "train-images-idx3-ubyte", encode_idx(flat));
  EXPECT_NE(load_error(tmp.path()).find("rank 2"), std::string::npos);
}

TEST(Idx, MissingFolderAndFilesAreNamed) {
  TempDir tmp;
  std::string msg = load_error(tmp / "nowhere");
  EXPECT_NE(msg.find("nowhere"), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
  msg = load_error(tmp.path());
  EXPECT_NE(msg.find("train-images-idx3-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("forgery data download"), std::string::npos) << msg;
}

TEST(TensorDataset, NormalisesLikeTorchvision) {
  auto bytes = torch::tensor({0, 128, 255}, torch::kUInt8);
  auto x = normalize_bytes(bytes);
  EXPECT_FLOAT_EQ(x[0].item<float>(), -1.f);
  EXPECT_FLOAT_EQ(x[1].item<float>(), (128.f / 255.f - 0.5f) / 0.5f);
  EXPECT_FLOAT_EQ(x[2].item<float>(), 1.f);
}

TEST(TensorDataset, LoadsWholeSplitAsTensors) {
  TempDir tmp;
  test::write_fake_mnist(tmp.path(), 30, 5);
  auto ds = load_mnist_family(tmp.path(), true, torch::kCPU);
  EXPECT_EQ(ds.images.sizes(), (std::vector<int64_t>{30, 1, 28, 28}));
  EXPECT_EQ(ds.labels.scalar_type(), torch::kLong);
  EXPECT_LE(ds.images.max().item<float>(), 1.f);
  EXPECT_GE(ds.images.min().item<float>(), -1.f);
}

TEST(RealMnist, SharedDatasetLoadsWhenPresent) {
  if (!has_mnist_files(test::shared_mnist()))
    GTEST_SKIP() << "no MNIST in " << test::shared_mnist() << " (optional test)";
  auto train = load_mnist(test::shared_mnist(), true);
  auto t10k = load_mnist(test::shared_mnist(), false);
  EXPECT_EQ(train.count, 60000);
  EXPECT_EQ(t10k.count, 10000);
  EXPECT_EQ(train.labels[0], 5);  // the first training digit of MNIST is a 5
  EXPECT_EQ(t10k.labels[0], 7);   // and the first test digit a 7
  std::vector<int> hist(10);
  for (auto l : train.labels) ++hist[l];
  EXPECT_EQ(hist[1], 6742);  // the published class counts
  EXPECT_EQ(hist[5], 5421);
}

TEST(RealMnist, IsNotTakenForFashionMnist) {
  // Same format, same file names: only the checksums tell the two datasets apart.
  if (!has_mnist_files(test::shared_mnist()))
    GTEST_SKIP() << "no MNIST in " << test::shared_mnist() << " (optional test)";
  if (!FORGERY_HAVE_OPENSSL) GTEST_SKIP() << "this build has no md5 (OpenSSL)";
  EXPECT_NO_THROW(check_holds_dataset("mnist", test::shared_mnist()));
  try {
    check_holds_dataset("fashion-mnist", test::shared_mnist());
    ADD_FAILURE() << "MNIST's files taken for Fashion-MNIST's";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("holds mnist's files (train-labels-idx1-ubyte.gz has its checksum), not "
                                         "fashion-mnist's: set dataset=mnist"),
              std::string::npos)
        << e.what();
  }
  // A folder of other files (the tests' own small MNIST) is not judged.
  TempDir tmp;
  test::write_fake_mnist(tmp.path(), 30, 5);
  EXPECT_NO_THROW(check_holds_dataset("fashion-mnist", tmp.path()));
  // Training says so before anything is written.
  auto r = test::run_forgery("train gan-mnist --set dataset=fashion-mnist --data '" + test::shared_mnist().string() +
                                 "' --out '" + (tmp / "run").string() + "' --epochs 1",
                             tmp.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("set dataset=mnist"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "run"));
}

}  // namespace
}  // namespace forgery
