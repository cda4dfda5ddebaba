#include "forgery/core/config.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <toml++/toml.h>

#include "forgery/core/error.h"

namespace forgery {

const char* option_type_name(OptionType type) {
  switch (type) {
    case OptionType::Bool: return "a boolean (true or false)";
    case OptionType::Int: return "an integer";
    case OptionType::Float: return "a number";
    case OptionType::String: return "a string";
  }
  return "?";
}

static std::string quote_toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default: out += c;
    }
  }
  return out + "\"";
}

std::string format_option_value(const OptionValue& value) {
  if (auto b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  if (auto i = std::get_if<int64_t>(&value)) return std::to_string(*i);
  if (auto d = std::get_if<double>(&value)) {
    // Shortest text that reads back as the same double, always with a '.' or exponent.
    char buf[64];
    for (int precision = 6; precision <= 17; ++precision) {
      std::snprintf(buf, sizeof buf, "%.*g", precision, *d);
      if (std::strtod(buf, nullptr) == *d) break;
    }
    std::string s = buf;
    if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
    return s;
  }
  return quote_toml_string(std::get<std::string>(value));
}

static size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest_names(const std::string& name, const std::vector<std::string>& known) {
  std::vector<std::pair<size_t, std::string>> scored;
  for (const auto& k : known) scored.emplace_back(edit_distance(name, k), k);
  std::sort(scored.begin(), scored.end());
  std::string out;
  for (size_t i = 0; i < scored.size() && i < 3; ++i) {
    if (scored[i].first > std::max<size_t>(3, name.size() / 2)) break;
    out += (out.empty() ? "" : ", ") + scored[i].second;
  }
  return out;
}

void Config::add_specs(const std::vector<OptionSpec>& specs) {
  for (const auto& s : specs) {
    auto it = std::find_if(specs_.begin(), specs_.end(),
                           [&](const OptionSpec& o) { return o.key == s.key; });
    if (it != specs_.end()) {
      if (it->type != s.type)
        throw std::logic_error("option '" + s.key + "' declared twice with different types");
      continue;
    }
    specs_.push_back(s);
    values_[s.key] = s.default_value;
  }
}

const OptionSpec& Config::spec(const std::string& key, const std::string& source) const {
  for (const auto& s : specs_)
    if (s.key == key) return s;
  std::vector<std::string> known;
  for (const auto& s : specs_) known.push_back(s.key);
  std::string hint = closest_names(key, known);
  throw UsageError(source + ": unknown option '" + key + "'" +
                   (hint.empty() ? "" : " (did you mean: " + hint + "?)") +
                   "; `forgery train --list-options PRESET` lists them");
}

void Config::set(const std::string& key, OptionValue value) {
  const auto& s = spec(key, "config");
  if (s.type == OptionType::Float && std::holds_alternative<int64_t>(value))
    value = static_cast<double>(std::get<int64_t>(value));
  if (value.index() != s.default_value.index())
    throw UsageError("config: option '" + key + "' must be " + option_type_name(s.type));
  values_[key] = std::move(value);
}

void Config::merge_toml(const std::string& text, const std::string& source) {
  toml::table table;
  try {
    table = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << source << ": invalid TOML at line " << e.source().begin.line << ", column "
        << e.source().begin.column << ": " << e.description();
    throw UsageError(msg.str());
  }
  for (auto&& [k, node] : table) {
    std::string key(k.str());
    const auto& s = spec(key, source);
    auto bad_type = [&]() {
      return UsageError(source + ": option '" + key + "' must be " + option_type_name(s.type));
    };
    switch (s.type) {
      case OptionType::Bool:
        if (!node.is_boolean()) throw bad_type();
        values_[key] = node.as_boolean()->get();
        break;
      case OptionType::Int:
        if (!node.is_integer()) throw bad_type();
        values_[key] = static_cast<int64_t>(node.as_integer()->get());
        break;
      case OptionType::Float:
        if (node.is_integer()) values_[key] = static_cast<double>(node.as_integer()->get());
        else if (node.is_floating_point()) values_[key] = node.as_floating_point()->get();
        else throw bad_type();
        break;
      case OptionType::String:
        if (!node.is_string()) throw bad_type();
        values_[key] = std::string(node.as_string()->get());
        break;
    }
  }
}

void Config::set_from_string(const std::string& key, const std::string& text,
                             const std::string& source) {
  const auto& s = spec(key, source);
  auto bad = [&]() {
    return UsageError(source + " " + key + "=" + text + ": the value must be " +
                      option_type_name(s.type));
  };
  switch (s.type) {
    case OptionType::Bool: {
      std::string v = text;
      std::transform(v.begin(), v.end(), v.begin(), ::tolower);
      if (v == "true" || v == "1" || v == "yes" || v == "on") values_[key] = true;
      else if (v == "false" || v == "0" || v == "no" || v == "off") values_[key] = false;
      else throw bad();
      break;
    }
    case OptionType::Int: {
      int64_t v = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) throw bad();
      values_[key] = v;
      break;
    }
    case OptionType::Float: {
      char* end = nullptr;
      errno = 0;
      double v = std::strtod(text.c_str(), &end);
      if (text.empty() || errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v))
        throw bad();
      values_[key] = v;
      break;
    }
    case OptionType::String:
      values_[key] = text;
      break;
  }
}

const OptionValue& Config::value(const std::string& key, OptionType expected) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw std::logic_error("option '" + key + "' is not declared");
  const auto& s = spec(key, "config");
  if (s.type != expected)
    throw std::logic_error("option '" + key + "' read as the wrong type");
  return it->second;
}

bool Config::get_bool(const std::string& key) const {
  return std::get<bool>(value(key, OptionType::Bool));
}
int64_t Config::get_int(const std::string& key) const {
  return std::get<int64_t>(value(key, OptionType::Int));
}
double Config::get_float(const std::string& key) const {
  return std::get<double>(value(key, OptionType::Float));
}
const std::string& Config::get_string(const std::string& key) const {
  return std::get<std::string>(value(key, OptionType::String));
}

std::string Config::to_toml() const {
  std::ostringstream out;
  out << "# Forgery run configuration: every option as used. Rerun with\n"
         "#   forgery train config.toml\n";
  for (const auto& s : specs_) {
    out << "\n# " << s.help << "\n" << s.key << " = " << format_option_value(values_.at(s.key))
        << "\n";
  }
  return out.str();
}

std::optional<std::string> Config::peek_string(const std::string& text, const std::string& key,
                                               const std::string& source) {
  try {
    auto table = toml::parse(text, source);
    if (auto v = table[key].value<std::string>()) return *v;
    return std::nullopt;
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << source << ": invalid TOML at line " << e.source().begin.line << ", column "
        << e.source().begin.column << ": " << e.description();
    throw UsageError(msg.str());
  }
}

}  // namespace forgery
