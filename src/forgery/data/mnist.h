#pragma once
// The MNIST family (MNIST, Fashion-MNIST): four IDX files in a folder. No torch here.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace forgery {

struct LabelledImages {
  int64_t count = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;  // count * height * width
  std::vector<uint8_t> labels;  // count
};

// The file for `base` ("train-images-idx3-ubyte") in `dir`: raw, .gz, or the dotted variant
// ("train-images.idx3-ubyte"); empty if none.
std::filesystem::path find_idx_file(const std::filesystem::path& dir, const std::string& base);
bool has_mnist_files(const std::filesystem::path& dir);
// Loads the training (or test) split; errors name the folder or file and the problem.
LabelledImages load_mnist(const std::filesystem::path& dir, bool train);

}  // namespace forgery
