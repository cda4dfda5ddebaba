#include "forgery/data/mnist.h"

#include "forgery/core/error.h"
#include "forgery/data/idx.h"

namespace forgery {

namespace fs = std::filesystem;

fs::path find_idx_file(const fs::path& dir, const std::string& base) {
  std::string dotted = base;
  auto dash = dotted.rfind('-', dotted.find("idx"));
  if (dash != std::string::npos) dotted[dash] = '.';
  for (const auto& name : {base, base + ".gz", dotted, dotted + ".gz"}) {
    std::error_code ec;
    if (fs::is_regular_file(dir / name, ec)) return dir / name;
  }
  return {};
}

static const char* kFiles[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

bool has_mnist_files(const fs::path& dir) {
  for (const char* f : kFiles)
    if (find_idx_file(dir, f).empty()) return false;
  return true;
}

LabelledImages load_mnist(const fs::path& dir, bool train) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw Error("data folder " + dir.string() + " does not exist");
  if (!fs::is_directory(dir, ec)) throw Error("data folder " + dir.string() + " is not a folder");
  const std::string prefix = train ? "train" : "t10k";
  auto locate = [&](const std::string& base) {
    fs::path p = find_idx_file(dir, base);
    if (p.empty())
      throw Error("data folder " + dir.string() + " has no " + base + " (or " + base +
                  ".gz): it needs the four MNIST-format IDX files; `forgery data download mnist --dir " +
                  dir.string() + "` fetches them");
    return p;
  };
  fs::path image_file = locate(prefix + "-images-idx3-ubyte");
  fs::path label_file = locate(prefix + "-labels-idx1-ubyte");
  IdxArray images = read_idx(image_file, 3);
  IdxArray labels = read_idx(label_file, 1);
  if (images.dims[0] != labels.dims[0])
    throw Error("data folder " + dir.string() + ": " + image_file.filename().string() + " holds " +
                std::to_string(images.dims[0]) + " images but " + label_file.filename().string() +
                " holds " + std::to_string(labels.dims[0]) + " labels");
  if (images.dims[0] == 0) throw Error("IDX file " + image_file.string() + " holds no images");
  for (uint8_t l : labels.data)
    if (l > 9) throw Error("IDX file " + label_file.string() + " holds label " + std::to_string(l) + "; MNIST labels are 0-9");
  LabelledImages out;
  out.count = images.dims[0];
  out.height = images.dims[1];
  out.width = images.dims[2];
  out.pixels = std::move(images.data);
  out.labels = std::move(labels.data);
  return out;
}

}  // namespace forgery
