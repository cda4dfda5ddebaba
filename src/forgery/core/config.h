#pragma once
// Typed run options: a schema of known keys (with defaults and help), values read from TOML
// and from `--set key=value`, written back as config.toml. No torch here.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace forgery {

enum class OptionType { Bool, Int, Float, String };
using OptionValue = std::variant<bool, int64_t, double, std::string>;

struct OptionSpec {
  std::string key;
  OptionType type;
  OptionValue default_value;
  std::string help;
};

const char* option_type_name(OptionType type);
std::string format_option_value(const OptionValue& value);

class Config {
 public:
  Config() = default;
  explicit Config(const std::vector<OptionSpec>& specs) { add_specs(specs); }

  // Adds keys to the schema (a key declared twice must keep its type) and sets their defaults.
  void add_specs(const std::vector<OptionSpec>& specs);

  // Reads every key of a TOML document; unknown keys and wrong types are errors naming
  // `source` and the key.
  void merge_toml(const std::string& text, const std::string& source);
  // Parses `value` by the key's declared type (for --set); errors name `source`.
  void set_from_string(const std::string& key, const std::string& value,
                       const std::string& source = "--set");
  void set(const std::string& key, OptionValue value);

  bool has(const std::string& key) const { return values_.count(key) != 0; }
  bool get_bool(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;

  // The whole config, every key in schema order, each preceded by its help as a comment.
  std::string to_toml() const;
  // An option's value as config.toml writes it.
  std::string value_text(const std::string& key) const { return format_option_value(values_.at(key)); }
  const std::vector<OptionSpec>& specs() const { return specs_; }

  // Top-level string value of a TOML document without a schema (to find `model` first).
  static std::optional<std::string> peek_string(const std::string& text, const std::string& key,
                                                const std::string& source);
  // Whether a TOML document names a top-level key.
  static bool peek_has(const std::string& text, const std::string& key, const std::string& source);

 private:
  const OptionSpec& spec(const std::string& key, const std::string& source) const;
  const OptionValue& value(const std::string& key, OptionType expected) const;
  std::vector<OptionSpec> specs_;
  std::map<std::string, OptionValue> values_;
};

// "did you mean" help for an unknown key: the closest known keys by edit distance.
std::string closest_names(const std::string& name, const std::vector<std::string>& known);

}  // namespace forgery
