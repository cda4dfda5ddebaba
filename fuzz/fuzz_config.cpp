// TOML configs (toml++ through Forgery's typed options): accepted or a forgery::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "forgery/core/config.h"
#include "forgery/core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  using forgery::OptionType;
  try {
    (void)forgery::Config::peek_string(text, "model", "fuzz");
  } catch (const forgery::Error&) {
  }
  forgery::Config c({{"model", OptionType::String, std::string("gan"), "model"},
                     {"epochs", OptionType::Int, int64_t{200}, "epochs"},
                     {"lr_g", OptionType::Float, 0.0002, "rate"},
                     {"drop_last", OptionType::Bool, true, "flag"},
                     {"data_dir", OptionType::String, std::string(), "folder"}});
  try {
    c.merge_toml(text, "fuzz");
    (void)c.to_toml();
  } catch (const forgery::Error&) {
  }
  return 0;
}
