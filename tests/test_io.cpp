#include <algorithm>
#include <zlib.h>
#include <torch/torch.h>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/io/grid.h"
#include "forgery/io/image.h"
#include "forgery/io/metrics.h"
#include "forgery/io/plot.h"
#include "forgery/io/torch_file.h"
#include "test_util.h"

namespace forgery {
namespace {

using test::TempDir;

at::Tensor entry(const c10::IValue& dict, const std::string& key) {
  for (const auto& e : dict.toGenericDict())
    if (e.key().toStringRef() == key) return e.value().toTensor();
  ADD_FAILURE() << "no key " << key;
  return {};
}

TEST(Png, RoundTripsGreyAndColour) {
  TempDir tmp;
  for (int channels : {1, 3}) {
    Image im{5, 3, channels, {}};
    for (int i = 0; i < 5 * 3 * channels; ++i) im.pixels.push_back(static_cast<uint8_t>(i * 17));
    write_png(tmp / "a.png", im);
    Image back = read_png(tmp / "a.png");
    EXPECT_EQ(back.width, 5);
    EXPECT_EQ(back.height, 3);
    EXPECT_EQ(back.channels, channels);
    EXPECT_EQ(back.pixels, im.pixels);
  }
}

// A PNG file from raw rows (each row's filter byte included), with extra chunks before IDAT.
std::string png_file(uint32_t w, uint32_t h, int depth, int colour, const std::string& rows,
                     const std::vector<std::pair<std::string, std::string>>& chunks = {}) {
  auto be32 = [](uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  auto chunk = [&](const std::string& type, const std::string& data) {
    const std::string body = type + data;
    return be32(static_cast<uint32_t>(data.size())) + body +
           be32(static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
  };
  uLongf size = compressBound(static_cast<uLong>(rows.size()));
  std::string z(size, '\0');
  compress(reinterpret_cast<Bytef*>(z.data()), &size, reinterpret_cast<const Bytef*>(rows.data()), static_cast<uLong>(rows.size()));
  z.resize(size);
  std::string out = "\x89PNG\r\n\x1a\n";
  out += chunk("IHDR", be32(w) + be32(h) + std::string{static_cast<char>(depth), static_cast<char>(colour), 0, 0, 0});
  for (const auto& [type, data] : chunks) out += chunk(type, data);
  return out + chunk("IDAT", z) + chunk("IEND", "");
}

std::string bytes_of(std::initializer_list<int> v) {
  std::string s;
  for (int b : v) s.push_back(static_cast<char>(b));
  return s;
}

// PIL's reading of alpha, 16-bit, low-bit, palette and CMYK files: ImageCodecs.DecodeUnusualFilesAsPil.
TEST(Png, TruncatedFilesAreNamed) {
  auto decode = [](const std::string& file) { return decode_png(file, "case.png"); };
  // Cut inside the image data: named as corrupt.
  const std::string whole = png_file(2, 1, 8, 6, bytes_of({0, 200, 100, 50, 0, 10, 20, 30, 128}));
  std::string msg = test::error_message([&] { decode(whole.substr(0, whole.size() - 20)); });
  EXPECT_NE(msg.find("image case.png is corrupt"), std::string::npos) << msg;
  msg = test::error_message([&] { decode(whole.substr(0, 20)); });
  EXPECT_NE(msg.find("image case.png is not a readable PNG"), std::string::npos) << msg;
}

TEST(Png, CorruptFileIsNamed) {
  TempDir tmp;
  test::write_bytes(tmp / "bad.png", {0x89, 'P', 'N', 'G', 1, 2, 3});
  try {
    read_png(tmp / "bad.png");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.png"), std::string::npos);
  }
}

TEST(Images, DeclaredSizesBeyondTheLimitAreRefusedBeforeAllocating) {
  // Found by fuzzing: 172 bytes of JPEG declaring 4 GB of pixels; the same for a PNG header.
  std::string msg = test::error_message([] { read_image(test::fixture("fuzz_huge_dims.jpg")); });
  EXPECT_NE(msg.find("fuzz_huge_dims.jpg is not a readable JPEG"), std::string::npos) << msg;
  EXPECT_NE(msg.find("more than the 100 million Forgery reads"), std::string::npos) << msg;
  msg = test::error_message([] { read_image(test::fixture("huge_dims.png")); });
  EXPECT_NE(msg.find("huge_dims.png is 20000 x 20000 pixels, more than the 100 million"), std::string::npos) << msg;
}

TEST(Grid, MatchesTorchvisionMakeGridAndSaveImage) {
  auto fx = load_torch_file(test::fixture("golden_misc.pt"));
  auto images = entry(fx, "grid_input");
  auto expected = entry(fx, "grid_expected");  // [H, W] uint8 from torchvision
  Image grid = make_grid(images, 4, 2);
  ASSERT_EQ(grid.height, expected.size(0));
  ASSERT_EQ(grid.width, expected.size(1));
  ASSERT_EQ(grid.channels, 1);
  auto got = torch::from_blob(grid.pixels.data(), {grid.height, grid.width}, torch::kUInt8);
  EXPECT_TRUE(torch::equal(got, expected));
}

TEST(Grid, MapsTanhRangeToUnitRange) {
  auto x = torch::tensor({-1.f, 0.f, 1.f, 3.f});
  auto y = to_unit_range(x);
  EXPECT_TRUE(torch::allclose(y, torch::tensor({0.f, 0.5f, 1.f, 1.f})));
}

TEST(Gif, WritesLoopingAnimation) {
  if (!gif_supported()) GTEST_SKIP() << "built without giflib";
  TempDir tmp;
  std::vector<Image> frames;
  for (int f = 0; f < 3; ++f) {
    Image im{10, 6, f == 2 ? 3 : 1, {}};
    im.pixels.assign(10 * 6 * im.channels, static_cast<uint8_t>(f * 80));
    frames.push_back(im);
  }
  write_gif(tmp / "a.gif", frames);
  GifInfo info = read_gif_info(tmp / "a.gif");
  EXPECT_EQ(info.width, 10);
  EXPECT_EQ(info.height, 6);
  EXPECT_EQ(info.frames, 3);
  EXPECT_TRUE(info.loops);
}

TEST(Plot, WritesPngAndSvgWithLegend) {
  if (!plot_supported()) GTEST_SKIP() << "built without cairo";
  TempDir tmp;
  PlotSpec spec;
  spec.title = "loss";
  spec.x_label = "epoch";
  spec.y_label = "mean loss";
  spec.series = {{"Generator loss", {1, 2, 3}, {2.0, 1.5, 1.2}}, {"Discriminator loss", {1, 2, 3}, {0.5, 0.9, 1.1}}};
  write_line_plot(spec, tmp / "p.png", tmp / "p.svg");
  Image im = read_png(tmp / "p.png");
  EXPECT_EQ(im.width, 800);
  EXPECT_EQ(im.height, 500);
  std::string svg = read_file(tmp / "p.svg");
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  // Non-white pixels exist (curves and text were drawn).
  size_t dark = 0;
  for (uint8_t v : im.pixels) dark += v < 128;
  EXPECT_GT(dark, 500u);
}

TEST(Plot, TicksAreRound) {
  auto t = nice_ticks(0.13, 1.97, 5);
  ASSERT_GE(t.size(), 3u);
  EXPECT_NEAR(t[1] - t[0], 0.5, 1e-12);
}

TEST(Metrics, WritesJsonLinesAndCsvAndTruncatesOnResume) {
  TempDir tmp;
  MetricsLog log(tmp.path());
  for (int64_t e = 1; e <= 3; ++e) log.append({{"epoch", e}, {"loss_g", 1.5 / e}, {"note", std::string("a,\"b\"")}});
  log.save();
  MetricsLog back(tmp.path());
  back.load();
  ASSERT_EQ(back.rows().size(), 3u);
  EXPECT_DOUBLE_EQ(back.column("loss_g")[2], 0.5);
  back.truncate_after(1);
  back.save();
  std::string csv = read_file(tmp / "metrics.csv");
  EXPECT_EQ(csv, "epoch,loss_g,note\n1,1.5,\"a,\"\"b\"\"\"\n");
}

// A damaged record (the file cut short, a line edited by hand) does not block the run: its
// line is left out with a warning, and the file as it was is kept beside the rewritten one.
TEST(Metrics, ADamagedLineIsLeftOutAndTheFileKept) {
  TempDir tmp;
  const std::string damaged = "{\"epoch\": 1, \"loss_g\": 2.5}\n[1, 2]\n{\"epoch\": 2, \"loss_g\": 1.5}\n{\"epoch\": 3, \"lo";
  test::write_bytes(tmp / "metrics.jsonl", std::vector<uint8_t>(damaged.begin(), damaged.end()));
  MetricsLog log(tmp.path());
  testing::internal::CaptureStderr();
  log.load();
  const std::string warned = testing::internal::GetCapturedStderr();
  ASSERT_EQ(log.rows().size(), 2u);
  EXPECT_DOUBLE_EQ(log.column("loss_g")[1], 1.5);
  EXPECT_NE(warned.find("line 2 is not a JSON record"), std::string::npos) << warned;
  EXPECT_NE(warned.find("line 4 is not a JSON record"), std::string::npos) << warned;
  EXPECT_NE(warned.find("the file ends in the middle of it"), std::string::npos) << warned;
  log.append({{"epoch", int64_t{3}}, {"loss_g", 1.0}});
  testing::internal::CaptureStderr();
  log.save();
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(read_file(tmp / "metrics.jsonl.damaged"), damaged);
  MetricsLog back(tmp.path());
  back.load();
  EXPECT_EQ(back.rows().size(), 3u);
}

TEST(AtomicWrite, ReplacesWholeFileAndLeavesNoTemporaries) {
  TempDir tmp;
  atomic_write_file(tmp / "f", "first");
  atomic_write_file(tmp / "f", "second");
  EXPECT_EQ(read_file(tmp / "f"), "second");
  int files = 0;
  for (auto& e : fs::directory_iterator(tmp.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
  EXPECT_THROW(atomic_write_file(tmp / "no" / "dir" / "f", "x"), Error);
}

TEST(AtomicWrite, LinksLeaveNoTemporariesEvenWhenAlreadyLinkedAndStaleOnesAreRemoved) {
  TempDir tmp;
  atomic_write_file(tmp / "last", "epoch 1");
  atomic_link_or_copy(tmp / "last", tmp / "best");
  atomic_link_or_copy(tmp / "last", tmp / "best");  // the same file already: nothing to do
  EXPECT_TRUE(fs::equivalent(tmp / "last", tmp / "best"));
  atomic_write_file(tmp / "last", "epoch 2");  // a new file under the old name
  EXPECT_EQ(read_file(tmp / "best"), "epoch 1");
  atomic_link_or_copy(tmp / "last", tmp / "best");
  EXPECT_EQ(read_file(tmp / "best"), "epoch 2");
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(tmp.path())) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"best", "last"}));
  // Temporaries of processes that are gone are removed; a live writer's (ours) is kept.
  fs::create_directories(tmp / "sub");
  test::write_bytes(tmp / "sub" / "x.pt.tmp-4194305", {1});
  const std::string mine = "y.pt.tmp-" + std::to_string(getpid());
  test::write_bytes(tmp / mine, {1});
  test::write_bytes(tmp / "notes.tmp-draft", {1});
  EXPECT_EQ(remove_stale_temporaries(tmp.path()), 1);
  EXPECT_FALSE(fs::exists(tmp / "sub" / "x.pt.tmp-4194305"));
  EXPECT_TRUE(fs::exists(tmp / mine));
  EXPECT_TRUE(fs::exists(tmp / "notes.tmp-draft"));
}

TEST(TorchFile, ReadsPythonNestedDictsListsAndViews) {
  auto v = load_torch_file(test::fixture("py_nested.pt"));
  ASSERT_TRUE(v.isGenericDict());
  auto d = v.toGenericDict();
  EXPECT_EQ(d.at("name").toStringRef(), "forgery");
  EXPECT_EQ(d.at("epoch").toInt(), 3);
  EXPECT_DOUBLE_EQ(d.at("lr").toDouble(), 0.0002);
  EXPECT_EQ(d.at("flags").toList().size(), 3u);
  auto w = d.at("weights").toGenericDict();
  EXPECT_TRUE(torch::equal(w.at("a").toTensor(), torch::arange(6, torch::kFloat).view({2, 3})));
  EXPECT_TRUE(torch::equal(w.at("b").toTensor(), torch::tensor({1, -2}, torch::kLong)));
  EXPECT_TRUE(torch::equal(d.at("shared_view").toTensor(), torch::tensor({2.f, 4.f, 6.f})));
}

TEST(TorchFile, ReadsPythonStateDictOrderedDict) {
  auto sd = load_state_dict(test::fixture("py_generator_state_dict.pt"));
  ASSERT_EQ(sd.size(), 8u);
  EXPECT_EQ(sd[0].first, "main.0.weight");
  EXPECT_EQ(sd[0].second.sizes(), (std::vector<int64_t>{8, 16}));
  EXPECT_EQ(sd[7].first, "main.6.bias");
}

TEST(TorchFile, WritesWhatItReads) {
  TempDir tmp;
  NamedTensors t = {{"a.weight", torch::randn({3, 4})}, {"a.bias", torch::arange(3, torch::kLong)}};
  save_state_dict(tmp / "sd.pt", t);
  auto back = load_state_dict(tmp / "sd.pt");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].first, "a.weight");
  EXPECT_TRUE(torch::equal(back[0].second, t[0].second));
  EXPECT_TRUE(torch::equal(back[1].second, t[1].second));
}

TEST(TorchFile, BadFilesGetClearErrors) {
  TempDir tmp;
  auto message = [](const fs::path& p) {
    try {
      load_torch_file(p);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  std::string msg = message(test::fixture("py_legacy_format.pt"));
  EXPECT_NE(msg.find("legacy"), std::string::npos) << msg;
  test::write_bytes(tmp / "text.pt", {'h', 'e', 'l', 'l', 'o'});
  msg = message(tmp / "text.pt");
  EXPECT_NE(msg.find("text.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a PyTorch file"), std::string::npos) << msg;
  auto bytes = test::read_bytes(test::fixture("py_generator_state_dict.pt"));
  for (size_t cut : {bytes.size() / 2, bytes.size() - 30, size_t{100}}) {
    test::write_bytes(tmp / "cut.pt", std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(cut)));
    msg = message(tmp / "cut.pt");
    EXPECT_NE(msg.find("cut.pt"), std::string::npos) << cut << ": " << msg;
  }
  msg = message(tmp / "absent.pt");
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
}

TEST(TorchFile, TensorsWithSizeAndStrideOfDifferentLengthsAreRefused) {
  // Found by fuzzing: a stride shorter than the size was indexed past its end. (A file written
  // so has a valid checksum; this one was made by mutating bytes, so the parser is reached with
  // the checksums off, and a checked load stops at the damaged record.)
  const auto b = test::read_bytes(test::fixture("fuzz_size_stride.pt"));
  const std::string bytes(b.begin(), b.end());
  std::string msg = test::error_message([&] { load_torch_bytes(bytes, "fuzz_size_stride.pt", false); });
  EXPECT_NE(msg.find("fuzz_size_stride.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("size and stride differ in length"), std::string::npos) << msg;
  msg = test::error_message([] { load_torch_file(test::fixture("fuzz_size_stride.pt")); });
  EXPECT_NE(msg.find("is damaged: its record data.pkl does not match the checksum"), std::string::npos) << msg;
}

// A checkpoint changed after it was written (bytes of a tensor flipped, where the archive and
// the pickle stay well-formed) is named, not loaded as other weights.
TEST(TorchFile, ATensorsBytesChangedAfterWritingAreFound) {
  TempDir tmp;
  save_state_dict(tmp / "w.pt", {{"weight", torch::arange(4096, torch::kFloat)}});
  auto b = test::read_bytes(tmp / "w.pt");
  EXPECT_TRUE(torch::equal(load_state_dict(tmp / "w.pt").front().second, torch::arange(4096, torch::kFloat)));
  // The float 2000.0 (bytes 00 00 fa 44) inside the tensor's record, made 2000.5.
  const std::vector<uint8_t> pattern = {0x00, 0x00, 0xfa, 0x44};
  auto at = std::search(b.begin(), b.end(), pattern.begin(), pattern.end());
  ASSERT_NE(at, b.end());
  *(at + 1) = 0x08;
  test::write_bytes(tmp / "w.pt", b);
  const std::string msg = test::error_message([&] { load_state_dict(tmp / "w.pt"); });
  EXPECT_NE(msg.find("w.pt is damaged: its record data/0 does not match the checksum"), std::string::npos) << msg;
  EXPECT_NO_THROW(load_torch_bytes(std::string(b.begin(), b.end()), "w.pt", false)) << "the archive itself is whole";
}

TEST(TorchFile, CorruptedBytesNeverCrash) {
  TempDir tmp;
  auto bytes = test::read_bytes(test::fixture("py_nested.pt"));
  std::mt19937 rng(3);
  int errors = 0;
  for (int trial = 0; trial < 200; ++trial) {
    auto b = bytes;
    for (int k = 0; k < 4; ++k) b[rng() % b.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
    try {
      load_torch_bytes(std::string(b.begin(), b.end()), "fuzz.pt");
    } catch (const Error&) {
      ++errors;
    }
    try {  // the parser itself, past the checksums
      load_torch_bytes(std::string(b.begin(), b.end()), "fuzz.pt", false);
    } catch (const Error&) {
    }
  }
  EXPECT_GT(errors, 0);
}

}  // namespace
}  // namespace forgery
