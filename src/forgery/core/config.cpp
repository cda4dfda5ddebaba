#include "forgery/core/config.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
    // Close enough to be a typo: a third of the name's letters at most, and not all of them.
    if (scored[i].first > std::max<size_t>(1, (name.size() + 2) / 3) || scored[i].first >= name.size()) break;
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

namespace {
// toml++ 3.3 (Debian 12) reaches __builtin_unreachable() when it classifies some characters
// beyond ASCII (U+00A1, U+3042, U+FB3B, ... where whitespace may stand: undefined behaviour,
// found by fuzzing). So toml++ is only ever given ASCII: in double-quoted strings every such
// character becomes its \uXXXX / \UXXXXXXXX escape (the same value), in comments a '?';
// anywhere else, and in single-quoted strings (which have no escapes), it is refused with its
// line and column. Control characters, which TOML allows nowhere, are refused as well.
std::string ascii_toml(const std::string& text, const std::string& source) {
  enum { Plain, Comment, Basic, Literal, MultiBasic, MultiLiteral } state = Plain;
  std::string out;
  out.reserve(text.size());
  size_t line = 1, column = 1;
  // A UTF-8 byte-order mark, as some editors write one, is not part of the document.
  const size_t start = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  auto fail = [&](const std::string& what) {
    std::ostringstream msg;
    msg << source << ": invalid TOML at line " << line << ", column " << column << ": " << what;
    throw UsageError(msg.str());
  };
  for (size_t i = start; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    auto starts = [&](const char* s) { return text.compare(i, std::strlen(s), s) == 0; };
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      std::ostringstream hex;
      hex << "control character 0x" << std::hex << static_cast<int>(c);
      fail(hex.str());
    }
    if (c >= 0x80) {
      // One UTF-8 sequence, decoded.
      const int len = c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
      uint32_t cp = len == 4 ? c & 0x07 : len == 3 ? c & 0x0F : c & 0x1F;
      bool ok = len > 0 && i + len <= text.size();
      for (int k = 1; ok && k < len; ++k) {
        const unsigned char t = static_cast<unsigned char>(text[i + k]);
        ok = (t & 0xC0) == 0x80;
        cp = (cp << 6) | (t & 0x3F);
      }
      ok = ok && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) &&
           cp >= (len == 4 ? 0x10000u : len == 3 ? 0x800u : 0x80u);
      if (!ok) fail("not UTF-8");
      if (state == Basic || state == MultiBasic) {
        if (!out.empty() && out.back() == '\\' && (out.size() < 2 || out[out.size() - 2] != '\\'))
          fail("a backslash before a character beyond ASCII (not a TOML escape)");
        char esc[16];
        std::snprintf(esc, sizeof esc, cp > 0xFFFF ? "\\U%08X" : "\\u%04X", cp);
        out += esc;
      } else if (state == Comment) {
        out += '?';
      } else if (state == Plain) {
        fail("a character beyond ASCII outside a string or comment (put names and values in double quotes)");
      } else {
        fail("a character beyond ASCII in a single-quoted string (use a double-quoted one)");
      }
      i += static_cast<size_t>(len);
      ++column;
      continue;
    }
    size_t take = 1;
    switch (state) {
      case Plain:
        if (c == '#') state = Comment;
        else if (starts("\"\"\"")) { state = MultiBasic; take = 3; }
        else if (starts("'''")) { state = MultiLiteral; take = 3; }
        else if (c == '"') state = Basic;
        else if (c == '\'') state = Literal;
        break;
      case Comment:
        if (c == '\n') state = Plain;
        break;
      case Basic:
        if (c == '\\' && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0x80 && text[i + 1] != '\n') take = 2;
        else if (c == '"' || c == '\n') state = Plain;
        break;
      case Literal:
        if (c == '\'' || c == '\n') state = Plain;
        break;
      case MultiBasic:
        if (c == '\\' && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0x80 && text[i + 1] != '\n') take = 2;
        else if (starts("\"\"\"")) { state = Plain; take = 3; }
        break;
      case MultiLiteral:
        if (starts("'''")) { state = Plain; take = 3; }
        break;
    }
    for (size_t k = 0; k < take && i < text.size(); ++k, ++i) {
      out += text[i];
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
  }
  return out;
}

toml::table parse_top(const std::string& text, const std::string& source) {
  const std::string ascii = ascii_toml(text, source);
  try {
    return toml::parse(ascii, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << source << ": invalid TOML at line " << e.source().begin.line << ", column "
        << e.source().begin.column << ": " << e.description();
    throw UsageError(msg.str());
  }
}
}  // namespace

void Config::merge_toml(const std::string& text, const std::string& source) {
  const toml::table table = parse_top(text, source);
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
  auto table = parse_top(text, source);
  if (auto v = table[key].value<std::string>()) return *v;
  return std::nullopt;
}

bool Config::peek_has(const std::string& text, const std::string& key, const std::string& source) {
  return parse_top(text, source).contains(key);
}

}  // namespace forgery
