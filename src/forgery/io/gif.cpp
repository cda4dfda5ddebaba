#include <cstring>

#include "forgery/core/error.h"
#include "forgery/features.h"
#include "forgery/core/fs.h"
#include "forgery/io/image.h"

#if FORGERY_HAVE_GIF
#include <gif_lib.h>
#endif

namespace forgery {

#if FORGERY_HAVE_GIF
bool gif_supported() { return true; }

namespace {
int append_to_string(GifFileType* gif, const GifByteType* data, int len) {
  static_cast<std::string*>(gif->UserData)->append(reinterpret_cast<const char*>(data), len);
  return len;
}
std::string gif_error(int code) {
  const char* s = GifErrorString(code);
  return s ? s : "unknown GIF error";
}
}  // namespace

void write_gif(const fs::path& path, const std::vector<Image>& frames, int delay_cs) {
  if (frames.empty()) throw Error("cannot write " + path.string() + ": no frames");
  const int w = frames[0].width, h = frames[0].height;
  std::string bytes;
  int err = 0;
  GifFileType* gif = EGifOpen(&bytes, append_to_string, &err);
  if (!gif) throw Error("cannot write " + path.string() + ": " + gif_error(err));
  auto fail = [&](const std::string& what) {
    int e = gif->Error;
    EGifCloseFile(gif, nullptr);
    throw Error("cannot write " + path.string() + ": " + what + ": " + gif_error(e));
  };
  EGifSetGifVersion(gif, true);
  // A grey palette for grey frames; colour frames get their own quantised palette each.
  ColorMapObject* grey = GifMakeMapObject(256, nullptr);
  for (int i = 0; i < 256; ++i) grey->Colors[i] = GifColorType{(GifByteType)i, (GifByteType)i, (GifByteType)i};
  if (EGifPutScreenDesc(gif, w, h, 8, 0, grey) == GIF_ERROR) { GifFreeMapObject(grey); fail("screen"); }
  // NETSCAPE2.0 extension: loop forever.
  const GifByteType loop[3] = {1, 0, 0};
  if (EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) == GIF_ERROR ||
      EGifPutExtensionBlock(gif, 11, "NETSCAPE2.0") == GIF_ERROR ||
      EGifPutExtensionBlock(gif, 3, loop) == GIF_ERROR || EGifPutExtensionTrailer(gif) == GIF_ERROR) {
    GifFreeMapObject(grey);
    fail("loop extension");
  }
  std::vector<GifByteType> index(static_cast<size_t>(w) * h);
  for (const auto& f : frames) {
    if (f.width != w || f.height != h) { GifFreeMapObject(grey); fail("frames differ in size"); }
    GraphicsControlBlock gcb{};
    gcb.DisposalMode = DISPOSE_DO_NOT;
    gcb.DelayTime = delay_cs;
    gcb.TransparentColor = NO_TRANSPARENT_COLOR;
    GifByteType ext[4];
    EGifGCBToExtension(&gcb, ext);
    if (EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, 4, ext) == GIF_ERROR) { GifFreeMapObject(grey); fail("frame delay"); }
    ColorMapObject* local = nullptr;
    if (f.channels == 1) {
      std::memcpy(index.data(), f.pixels.data(), index.size());
    } else {
      std::vector<GifByteType> r(index.size()), g(index.size()), b(index.size());
      for (size_t i = 0; i < index.size(); ++i) {
        r[i] = f.pixels[3 * i];
        g[i] = f.pixels[3 * i + 1];
        b[i] = f.pixels[3 * i + 2];
      }
      int colours = 256;
      local = GifMakeMapObject(256, nullptr);
      if (GifQuantizeBuffer(w, h, &colours, r.data(), g.data(), b.data(), index.data(), local->Colors) == GIF_ERROR) {
        GifFreeMapObject(local);
        GifFreeMapObject(grey);
        fail("colour quantisation");
      }
    }
    bool ok = EGifPutImageDesc(gif, 0, 0, w, h, false, local) != GIF_ERROR;
    for (int y = 0; ok && y < h; ++y) ok = EGifPutLine(gif, index.data() + static_cast<size_t>(y) * w, w) != GIF_ERROR;
    if (local) GifFreeMapObject(local);
    if (!ok) { GifFreeMapObject(grey); fail("frame"); }
  }
  GifFreeMapObject(grey);
  if (EGifCloseFile(gif, &err) == GIF_ERROR) throw Error("cannot write " + path.string() + ": " + gif_error(err));
  atomic_write_file(path, bytes);
}

namespace {
struct MemoryReader {
  const std::string* bytes;
  size_t pos = 0;
};
int read_from_memory(GifFileType* gif, GifByteType* out, int len) {
  auto* r = static_cast<MemoryReader*>(gif->UserData);
  size_t n = std::min<size_t>(static_cast<size_t>(len), r->bytes->size() - r->pos);
  std::memcpy(out, r->bytes->data() + r->pos, n);
  r->pos += n;
  return static_cast<int>(n);
}
}  // namespace

GifInfo read_gif_info(const fs::path& path) {
  std::string bytes = read_file(path, "GIF");
  MemoryReader reader{&bytes};
  int err = 0;
  GifFileType* gif = DGifOpen(&reader, read_from_memory, &err);
  if (!gif) throw Error("GIF " + path.string() + " cannot be read: " + gif_error(err));
  if (DGifSlurp(gif) == GIF_ERROR) {
    int e = gif->Error;
    DGifCloseFile(gif, nullptr);
    throw Error("GIF " + path.string() + " is corrupt: " + gif_error(e));
  }
  GifInfo info{gif->SWidth, gif->SHeight, gif->ImageCount, false};
  for (int i = 0; i < gif->ImageCount && !info.loops; ++i) {
    const SavedImage& im = gif->SavedImages[i];
    for (int e = 0; e + 1 < im.ExtensionBlockCount; ++e)
      if (im.ExtensionBlocks[e].Function == APPLICATION_EXT_FUNC_CODE &&
          im.ExtensionBlocks[e].ByteCount == 11 &&
          std::memcmp(im.ExtensionBlocks[e].Bytes, "NETSCAPE2.0", 11) == 0)
        info.loops = true;
  }
  DGifCloseFile(gif, nullptr);
  return info;
}
#else
bool gif_supported() { return false; }
void write_gif(const fs::path& path, const std::vector<Image>&, int) {
  throw Error("cannot write " + path.string() + ": this build has no GIF support (giflib)");
}
GifInfo read_gif_info(const fs::path& path) {
  throw Error("cannot read " + path.string() + ": this build has no GIF support (giflib)");
}
#endif

}  // namespace forgery
