#pragma once
// 8-bit images (interleaved, row-major) and their codecs. No torch here.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace forgery {

// The largest image Forgery decodes (100 megapixels, 300 MB as RGB): a few bytes of a damaged or
// hostile file cannot make it allocate gigabytes.
inline constexpr uint64_t kMaxImagePixels = 100'000'000;

struct Image {
  int width = 0, height = 0, channels = 0;  // channels: 1 (grey) or 3 (RGB)
  std::vector<uint8_t> pixels;              // height * width * channels
};

bool png_supported();
// Written atomically; errors name the file.
void write_png(const std::filesystem::path& path, const Image& image);
Image read_png(const std::filesystem::path& path);
// Decoding from bytes already read; `name` (usually the file) goes into error messages.
Image decode_png(const std::string& bytes, const std::string& name);

bool jpeg_supported();
Image read_jpeg(const std::filesystem::path& path);  // grey stays grey, colour becomes RGB
Image decode_jpeg(const std::string& bytes, const std::string& name);
// A JPEG or PNG file, read once and recognised by its first bytes; errors name the file and
// the problem.
Image read_image(const std::filesystem::path& path);

bool gif_supported();
// An animated GIF of equally sized frames that loops forever.
void write_gif(const std::filesystem::path& path, const std::vector<Image>& frames,
               int delay_centiseconds = 20);
struct GifInfo {
  int width = 0, height = 0, frames = 0;
  bool loops = false;
};
GifInfo read_gif_info(const std::filesystem::path& path);

}  // namespace forgery
