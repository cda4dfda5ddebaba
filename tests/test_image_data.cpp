// Image folders: decoding, resizing as torchvision does on PIL images, labels from
// sub-folders, batches, and the errors a user meets with bad folders.
#include <torch/torch.h>

#include "forgery/data/image_data.h"
#include "forgery/io/image.h"
#include "forgery/io/resize.h"
#include "forgery/io/torch_file.h"
#include "test_util.h"

namespace forgery {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

c10::impl::GenericDict golden() { return load_torch_file(test::fixture("golden_images.pt")).toGenericDict(); }

at::Tensor as_tensor(const Image& img) {
  return torch::from_blob(const_cast<uint8_t*>(img.pixels.data()), {img.height, img.width, img.channels}, torch::kUInt8).clone();
}
Image as_image(const at::Tensor& hwc) {
  Image img;
  img.height = static_cast<int>(hwc.size(0));
  img.width = static_cast<int>(hwc.size(1));
  img.channels = static_cast<int>(hwc.size(2));
  auto c = hwc.contiguous();
  img.pixels.assign(c.data_ptr<uint8_t>(), c.data_ptr<uint8_t>() + c.numel());
  return img;
}
int max_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(torch::kInt) - b.to(torch::kInt)).abs().max().item<int>();
}

const std::vector<std::string> kFiles = {"cats/a.jpg", "cats/b.png", "cats/sub/c.jpeg", "dogs/d.png", "dogs/e.JPG"};

TEST(ImageCodecs, DecodeJpegAndPngAsPil) {
  ASSERT_TRUE(jpeg_supported());
  auto fx = golden();
  for (const auto& rel : kFiles) {
    Image img = read_image(test::fixture("images") / rel);
    auto want = fx.at(rel + ".decoded").toTensor();
    if (want.dim() == 2) want = want.unsqueeze(-1);
    ASSERT_EQ(as_tensor(img).sizes(), want.sizes()) << rel;
    EXPECT_EQ(max_diff(as_tensor(img), want), 0) << rel;
  }
}

// Files of the kinds a user's folder may hold (alpha, 16-bit and low-bit samples, palettes,
// short palettes, colour-management chunks, interlacing, CMYK and YCCK JPEGs), written by
// tests/fixtures/make_fixtures.py (--only decode) with PIL's Image.open(f).convert("RGB") of
// each: Forgery reads the same pixels. Grey files decode to one channel, which the conversion
// to RGB repeats.
TEST(ImageCodecs, DecodeUnusualFilesAsPil) {
  ASSERT_TRUE(jpeg_supported());
  int files = 0;
  for (const auto& e : load_torch_file(test::fixture("golden_decode.pt")).toGenericDict()) {
    const std::string key = e.key().toStringRef();
    const std::string name = key.substr(0, key.size() - 4);  // "NAME.rgb"
    Image img = read_image(test::fixture("decode") / name);
    EXPECT_EQ(img.channels, name.rfind("grey", 0) == 0 ? 1 : 3) << name;
    at::Tensor got = as_tensor(img);
    if (img.channels == 1) got = got.repeat({1, 1, 3});
    const at::Tensor want = e.value().toTensor();
    ASSERT_EQ(got.sizes(), want.sizes()) << name;
    EXPECT_EQ(max_diff(got, want), 0) << name << "\nForgery: " << got.flatten() << "\nPIL: " << want.flatten();
    ++files;
  }
  EXPECT_EQ(files, 19);
}

TEST(Resize, BilinearMatchesPilExactly) {
  auto fx = golden();
  Image noisy = as_image(fx.at("noisy").toTensor());
  for (auto [w, h] : {std::pair{9, 7}, {40, 31}, {27, 19}, {64, 64}}) {
    auto want = fx.at("noisy." + std::to_string(w) + "x" + std::to_string(h)).toTensor();
    auto got = as_tensor(resize_image(noisy, w, h));
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_EQ(max_diff(got, want), 0) << w << "x" << h;
  }
}

TEST(Resize, ShorterSideAndCentreCropMatchTorchvision) {
  auto fx = golden();
  for (const auto& rel : kFiles)
    for (int size : {16, 32})
      for (int channels : {1, 3}) {
        Image img = read_image(test::fixture("images") / rel);
        Image r = channels == 1 ? resize_center_crop(convert_channels(img, 1), size)
                                : convert_channels(resize_center_crop(img, size), 3);
        auto want = fx.at(rel + "." + std::to_string(size) + (channels == 1 ? ".L" : ".RGB")).toTensor();
        ASSERT_EQ(as_tensor(r).sizes(), want.sizes()) << rel << " " << size;
        EXPECT_EQ(max_diff(as_tensor(r), want), 0) << rel << " " << size << " " << channels << " " << img.width << "x" << img.height << "x" << img.channels;
      }
}

TEST(ImageFolder, LabelsFromFirstLevelFoldersAndPixelsAsTorchvision) {
  ImageDataOptions o;
  o.size = 16;
  o.channels = 3;
  o.need_classes = true;
  o.threads = 2;
  o.progress = ProgressMode::Off;
  ImageData d = load_image_folder(test::fixture("images"), o, torch::kCPU);
  EXPECT_EQ(d.classes, (std::vector<std::string>{"cats", "dogs"}));
  ASSERT_EQ(d.size(), 5);
  EXPECT_TRUE(torch::equal(d.labels, torch::tensor({0, 0, 0, 1, 1}, torch::kLong)));
  EXPECT_EQ(d.pixels.scalar_type(), torch::kUInt8);
  auto fx = golden();
  for (size_t i = 0; i < kFiles.size(); ++i) {
    auto want = fx.at(kFiles[i] + ".16.RGB").toTensor().permute({2, 0, 1});
    EXPECT_EQ(max_diff(d.pixels[i], want), 0) << kFiles[i];
  }
  // Grey models get grey images, of any source size (mixed sizes are resized).
  o.channels = 1;
  o.size = 32;
  ImageData g = load_image_folder(test::fixture("images"), o, torch::kCPU);
  EXPECT_EQ(g.pixels.sizes(), (std::vector<int64_t>{5, 1, 32, 32}));
}

// Formats torchvision's ImageFolder reads and Forgery does not are left out, and said once per
// folder (a mixed folder would otherwise train on fewer images than the reference without a word).
TEST(ImageFolder, ImagesInOtherFormatsAreLeftOutWithAWarning) {
  TempDir tmp;
  fs::create_directories(tmp / "mixed" / "sub");
  fs::copy_file(test::fixture("images") / "cats" / "b.png", tmp / "mixed" / "b.png");
  test::write_bytes(tmp / "mixed" / "sub" / "x.BMP", {'B', 'M'});
  test::write_bytes(tmp / "mixed" / "y.tiff", {'I', 'I'});
  test::write_bytes(tmp / "mixed" / "notes.txt", {'h', 'i'});
  testing::internal::CaptureStderr();
  std::vector<fs::path> files = list_image_files(tmp / "mixed");
  std::string err = testing::internal::GetCapturedStderr();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].filename(), "b.png");
  EXPECT_NE(err.find("warning: image folder " + (tmp / "mixed").string() + ": 2 image file(s) in formats Forgery does not read"),
            std::string::npos) << err;
  EXPECT_NE(err.find("sub/x.BMP"), std::string::npos) << err;
  EXPECT_EQ(err.find("notes.txt"), std::string::npos) << err;
  testing::internal::CaptureStderr();
  list_image_files(tmp / "mixed");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(ImageFolder, BadFoldersAndFilesGetClearErrors) {
  TempDir tmp;
  ImageDataOptions o;
  o.size = 16;
  o.progress = ProgressMode::Off;
  auto msg = [&](const fs::path& dir) {
    return test::error_message([&] { load_image_folder(dir, o, torch::kCPU); });
  };
  EXPECT_NE(msg(tmp / "missing").find("does not exist"), std::string::npos);
  fs::create_directories(tmp / "empty");
  test::write_bytes(tmp / "empty" / "notes.txt", {'h', 'i'});
  EXPECT_NE(msg(tmp / "empty").find("holds no JPEG or PNG images"), std::string::npos) << msg(tmp / "empty");
  // One class is not enough for a conditional model; loose images have no class.
  fs::create_directories(tmp / "one" / "cats");
  fs::copy_file(test::fixture("images") / "cats" / "a.jpg", tmp / "one" / "cats" / "a.jpg");
  o.need_classes = true;
  EXPECT_NE(msg(tmp / "one").find("1 class sub-folder (cats)"), std::string::npos) << msg(tmp / "one");
  fs::copy_file(test::fixture("images") / "dogs" / "d.png", tmp / "one" / "loose.png");
  EXPECT_NE(msg(tmp / "one").find("loose.png is not in a class sub-folder"), std::string::npos) << msg(tmp / "one");
  o.need_classes = false;
  EXPECT_EQ(load_image_folder(tmp / "one", o, torch::kCPU).size(), 2);
  // A truncated JPEG, a text file named .png and an empty file: each names the file.
  fs::create_directories(tmp / "bad" / "x");
  auto jpg = test::read_bytes(test::fixture("images") / "cats" / "a.jpg");
  jpg.resize(jpg.size() / 2);
  test::write_bytes(tmp / "bad" / "x" / "cut.jpg", jpg);
  fs::copy_file(test::fixture("images") / "cats" / "b.png", tmp / "bad" / "x" / "good.png");
  std::string m = msg(tmp / "bad");
  EXPECT_NE(m.find("cut.jpg is not a readable JPEG"), std::string::npos) << m;
  EXPECT_NE(m.find("skip_bad_images"), std::string::npos) << m;
  test::write_bytes(tmp / "bad" / "x" / "cut.jpg", {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'});
  EXPECT_NE(msg(tmp / "bad").find("cut.jpg is neither a JPEG nor a PNG"), std::string::npos) << msg(tmp / "bad");
  test::write_bytes(tmp / "bad" / "x" / "cut.jpg", {});
  EXPECT_NE(msg(tmp / "bad").find("cut.jpg is empty"), std::string::npos) << msg(tmp / "bad");
  auto png = test::read_bytes(test::fixture("images") / "cats" / "b.png");
  png.resize(png.size() - 40);
  test::write_bytes(tmp / "bad" / "x" / "cut.jpg", png);
  EXPECT_NE(msg(tmp / "bad").find("cut.jpg"), std::string::npos) << msg(tmp / "bad");
  // Skipping: the good image is kept and the bad one counted.
  o.skip_bad = true;
  ImageData d = load_image_folder(tmp / "bad", o, torch::kCPU);
  EXPECT_EQ(d.size(), 1);
  EXPECT_EQ(d.skipped, 1);
  // Nothing readable at all is still an error.
  fs::remove(tmp / "bad" / "x" / "good.png");
  EXPECT_NE(msg(tmp / "bad").find("no readable image"), std::string::npos) << msg(tmp / "bad");
}

TEST(ImageFolder, MnistIsResizedOnceAsTorchvisionResizeDoes) {
  TempDir tmp;
  test::write_fake_mnist(tmp / "mnist", 40, 10);
  ImageDataOptions o;
  o.size = 32;
  o.channels = 1;
  o.threads = 2;
  o.progress = ProgressMode::Off;
  ImageData d = load_mnist_images(tmp / "mnist", true, o, torch::kCPU);
  ASSERT_EQ(d.pixels.sizes(), (std::vector<int64_t>{40, 1, 32, 32}));
  EXPECT_EQ(d.classes.size(), 10u);
  o.size = 28;
  ImageData raw = load_mnist_images(tmp / "mnist", true, o, torch::kCPU);
  Image first;
  first.width = first.height = 28;
  first.channels = 1;
  auto p = raw.pixels[0].contiguous();
  first.pixels.assign(p.data_ptr<uint8_t>(), p.data_ptr<uint8_t>() + 784);
  Image r = resize_center_crop(first, 32);
  EXPECT_TRUE(torch::equal(d.pixels[0][0], torch::from_blob(r.pixels.data(), {32, 32}, torch::kUInt8)));
  EXPECT_TRUE(torch::equal(d.labels, raw.labels));
}

TEST(ImageBatches, NormalisedAndFlippedOnWholeBatches) {
  ImageData d;
  d.pixels = torch::arange(2 * 1 * 2 * 3, torch::kUInt8).view({2, 1, 2, 3}).mul(10);
  d.labels = torch::zeros({2}, torch::kLong);
  auto idx = torch::tensor({1, 0}, torch::kLong);
  auto x = make_batch(d, idx, false);
  EXPECT_TRUE(torch::allclose(x, d.pixels.index_select(0, idx).to(torch::kFloat).div(255).sub(0.5).div(0.5)));
  // With flips, each image is itself or its mirror; about half are mirrored; seeded.
  ImageData big;
  big.pixels = torch::randint(0, 256, {1000, 1, 4, 5}, torch::kLong).to(torch::kUInt8);
  auto all = torch::arange(1000, torch::kLong);
  torch::manual_seed(3);
  auto f = make_batch(big, all, true);
  auto plain = make_batch(big, all, false), mirrored = plain.flip({3});
  auto same = (f == plain).flatten(1).all(1), flipped = (f == mirrored).flatten(1).all(1);
  EXPECT_TRUE((same | flipped).all().item<bool>());
  double share = flipped.to(torch::kDouble).mean().item<double>();
  EXPECT_GT(share, 0.45);
  EXPECT_LT(share, 0.55);
  torch::manual_seed(3);
  EXPECT_TRUE(torch::equal(f, make_batch(big, all, true)));
}

}  // namespace
}  // namespace forgery
