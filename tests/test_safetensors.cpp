// The safetensors reader and writer: round trips of every dtype, a file written by Python
// (tests/fixtures/make_fixtures.py --only safetensors, laid out as the format's own library lays
// it out), and every malformed file the format's library refuses.
#include <torch/torch.h>

#include <cstring>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/io/safetensors.h"
#include "forgery/io/torch_file.h"
#include "test_util.h"

namespace forgery {
namespace {

using test::TempDir;

NamedTensors every_dtype() {
  torch::manual_seed(3);
  return {{"conv.weight", torch::randn({4, 3, 2, 2})},
          {"conv.bias", torch::randn({4}, torch::kDouble)},
          {"half", torch::randn({5}).to(torch::kHalf)},
          {"brain", torch::randn({2, 3}).to(torch::kBFloat16)},
          {"bn.num_batches_tracked", torch::tensor(int64_t{7})},
          {"ints", torch::arange(6, torch::kInt).reshape({2, 3})},
          {"shorts", torch::arange(3, torch::kShort)},
          {"chars", torch::arange(-2, 2, torch::kChar)},
          {"bytes", torch::arange(250, 256).to(torch::kByte)},
          {"mask", torch::tensor({true, false, true})},
          {"empty", torch::zeros({0, 3})}};
}

// A file by hand: header JSON (unpadded), then `data`.
std::string file_bytes(const std::string& header, const std::string& data) {
  std::string s(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s + header + data;
}

std::string load_error(const std::string& bytes) {
  return test::error_message([&] { load_safetensors_bytes(bytes, "w.safetensors"); });
}

TEST(Safetensors, EveryDtypeRoundTripsWithMetadataAndAnAlignedHeader) {
  TempDir tmp;
  NamedTensors in = every_dtype();
  in.emplace_back("strided", torch::arange(12, torch::kFloat).reshape({3, 4}).t());  // written contiguous
  save_safetensors(tmp / "w.safetensors", in, {{"format", "pt"}, {"note", "hello"}});
  std::map<std::string, std::string> meta;
  NamedTensors out = load_safetensors(tmp / "w.safetensors", &meta);
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].first, in[i].first);  // offsets in the order written
    EXPECT_EQ(out[i].second.scalar_type(), in[i].second.scalar_type()) << in[i].first;
    EXPECT_TRUE(torch::equal(out[i].second, in[i].second)) << in[i].first;
  }
  EXPECT_EQ(meta, (std::map<std::string, std::string>{{"format", "pt"}, {"note", "hello"}}));
  std::string bytes = read_file(tmp / "w.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_TRUE(is_safetensors_file(tmp / "w.safetensors"));
  // Recognised by content as well as by name; PyTorch files are not taken for it.
  fs::copy_file(tmp / "w.safetensors", tmp / "w.bin");
  EXPECT_TRUE(is_safetensors_file(tmp / "w.bin"));
  save_state_dict(tmp / "w.pt", in);
  EXPECT_FALSE(is_safetensors_file(tmp / "w.pt"));
  // load_weights_file reads both kinds to the same tensors.
  auto a = tensors_of(load_weights_file(tmp / "w.bin"), "w.bin"), b = tensors_of(load_weights_file(tmp / "w.pt"), "w.pt");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
}

TEST(Safetensors, ReadsAFileWrittenByPython) {
  // Written by tests/fixtures/make_fixtures.py as the format's library writes (tensors sorted by
  // alignment then name, header padded with spaces), with torch.save of the same tensors beside it.
  std::map<std::string, std::string> meta;
  NamedTensors got = load_safetensors(test::fixture("py_written.safetensors"), &meta);
  NamedTensors want = tensors_of(load_torch_file(test::fixture("py_written_tensors.pt")), "py_written_tensors.pt");
  ASSERT_EQ(got.size(), want.size());
  std::map<std::string, at::Tensor> by_name(got.begin(), got.end());
  for (const auto& [k, t] : want) {
    ASSERT_TRUE(by_name.count(k)) << k;
    EXPECT_EQ(by_name[k].scalar_type(), t.scalar_type()) << k;
    EXPECT_TRUE(torch::equal(by_name[k], t)) << k;
  }
  EXPECT_EQ(meta["format"], "pt");
}

TEST(Safetensors, MalformedFilesAreNamedWithTheProblem) {
  const std::string four(16, '\1');
  EXPECT_NE(load_error("abc").find("too short for the header length"), std::string::npos);
  EXPECT_NE(load_error(file_bytes("{}", "").substr(0, 9)).find("runs past the end of the file"), std::string::npos);
  std::string huge(8, '\xff');
  EXPECT_NE(load_error(huge + "{}").find("exceeds the format's limit"), std::string::npos);
  EXPECT_NE(load_error(file_bytes("[1, 2]", "")).find("does not start with '{'"), std::string::npos);
  EXPECT_NE(load_error(file_bytes("{\"a\": ", "")).find("the header is not JSON"), std::string::npos);
  // Headers over 16 bytes of data (or none), and what each must be told.
  const std::pair<std::string, std::string> cases[] = {
      {R"({"a": {"dtype": "F33", "shape": [4], "data_offsets": [0, 16]}})", "tensor a: dtype 'F33' is not one Forgery reads"},
      {R"({"a": {"dtype": "F32", "shape": [5], "data_offsets": [0, 16]}})",
       "shape [5] of F32 takes 5 x 4 bytes, data_offsets give 16"},
      {R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 32]}})", "run past the 16 bytes of data"},
      {R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [16, 0]}})", "end before they begin"},
      {R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
           "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", "tensors a and b overlap"},
      {R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})", "bytes 0 to 8 of the data belong to no tensor"},
      {R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", "bytes 8 to 16 of the data belong to no tensor"},
      {R"({"a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}})", "is not a list of sizes"},
      {R"({"a": {"dtype": "F32", "shape": [4]}})", "dtype, shape and data_offsets"},
  };
  for (const auto& [header, expected] : cases)
    EXPECT_NE(load_error(file_bytes(header, four)).find(expected), std::string::npos) << header;
  EXPECT_NE(load_error(file_bytes(R"({"__metadata__": {"epoch": 3}})", "")).find("__metadata__ entry epoch is not a string"),
            std::string::npos);
  // The file is named in every message; a truncated real file too.
  TempDir tmp;
  save_safetensors(tmp / "w.safetensors", every_dtype());
  std::string bytes = read_file(tmp / "w.safetensors");
  atomic_write_file(tmp / "cut.safetensors", bytes.substr(0, bytes.size() - 3));
  std::string msg = test::error_message([&] { load_safetensors(tmp / "cut.safetensors"); });
  EXPECT_NE(msg.find((tmp / "cut.safetensors").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  msg = test::error_message([&] { load_weights_file(tmp / "missing.safetensors"); });
  EXPECT_NE(msg.find("missing.safetensors does not exist"), std::string::npos) << msg;
  // Tensors the format has no dtype for are refused when writing, naming the tensor.
  msg = test::error_message([&] { save_safetensors(tmp / "c.safetensors", {{"z", torch::zeros({2}, torch::kComplexFloat)}}); });
  EXPECT_NE(msg.find("tensor z"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(tmp / "c.safetensors"));
}

}  // namespace
}  // namespace forgery
