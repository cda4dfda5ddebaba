#include "forgery/io/metrics.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <nlohmann/json.hpp>
#include <sstream>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"

namespace forgery {

void MetricsLog::load() {
  rows_.clear();
  damaged_.clear();
  fs::path file = dir_ / "metrics.jsonl";
  if (!fs::exists(file)) return;
  const std::string text = read_file(file, "metrics file");
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    nlohmann::ordered_json j;
    try {
      j = nlohmann::ordered_json::parse(line);
      if (!j.is_object()) throw std::runtime_error("not a JSON object");
    } catch (const std::exception& e) {
      // nlohmann's words without its own position prefix ("[json.exception...] ... line 1, ").
      std::string why = e.what();
      if (const size_t at = why.find("column "); at != std::string::npos) why = why.substr(at);
      std::fprintf(stderr, "forgery: warning: metrics file %s line %d is not a JSON record (%s); left out%s\n",
                   file.c_str(), lineno, why.c_str(),
                   in.eof() && text.back() != '\n' ? " (the file ends in the middle of it)" : "");
      damaged_ = text;
      continue;
    }
    MetricRow row;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it->is_number_integer()) row.emplace_back(it.key(), it->get<int64_t>());
      else if (it->is_number()) row.emplace_back(it.key(), it->get<double>());
      else if (it->is_null()) row.emplace_back(it.key(), NAN);
      else if (it->is_string()) row.emplace_back(it.key(), it->get<std::string>());
    }
    rows_.push_back(std::move(row));
  }
}

static const MetricValue* find(const MetricRow& row, const std::string& name) {
  for (const auto& [k, v] : row)
    if (k == name) return &v;
  return nullptr;
}

void MetricsLog::truncate_after(int64_t epoch) {
  std::vector<MetricRow> kept;
  for (auto& row : rows_) {
    const MetricValue* e = find(row, "epoch");
    if (e && std::holds_alternative<int64_t>(*e) && std::get<int64_t>(*e) > epoch) continue;
    kept.push_back(std::move(row));
  }
  rows_ = std::move(kept);
}

void MetricsLog::append(MetricRow row) { rows_.push_back(std::move(row)); }

std::vector<double> MetricsLog::column(const std::string& name) const {
  std::vector<double> out;
  for (const auto& row : rows_) {
    const MetricValue* v = find(row, name);
    if (!v) out.push_back(NAN);
    else if (auto i = std::get_if<int64_t>(v)) out.push_back(static_cast<double>(*i));
    else if (auto d = std::get_if<double>(v)) out.push_back(*d);
    else out.push_back(NAN);
  }
  return out;
}

static std::string csv_cell(const MetricValue& v) {
  if (auto i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto d = std::get_if<double>(&v)) {
    if (!std::isfinite(*d)) return "";
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.9g", *d);
    return buf;
  }
  std::string s = std::get<std::string>(v), out = "\"";
  for (char c : s) out += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

void MetricsLog::save() const {
  std::vector<std::string> columns;
  std::string jsonl;
  for (const auto& row : rows_) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    for (const auto& [k, v] : row) {
      if (std::find(columns.begin(), columns.end(), k) == columns.end()) columns.push_back(k);
      if (auto i = std::get_if<int64_t>(&v)) j[k] = *i;
      else if (auto d = std::get_if<double>(&v)) j[k] = std::isfinite(*d) ? nlohmann::ordered_json(*d) : nullptr;
      else j[k] = std::get<std::string>(v);
    }
    jsonl += j.dump() + "\n";
  }
  std::string csv;
  for (size_t i = 0; i < columns.size(); ++i) csv += (i ? "," : "") + columns[i];
  csv += "\n";
  for (const auto& row : rows_) {
    for (size_t i = 0; i < columns.size(); ++i) {
      if (i) csv += ",";
      if (const MetricValue* v = find(row, columns[i])) csv += csv_cell(*v);
    }
    csv += "\n";
  }
  if (!damaged_.empty()) {
    atomic_write_file(dir_ / "metrics.jsonl.damaged", damaged_);
    std::fprintf(stderr, "forgery: warning: the metrics file as it was is kept in %s\n",
                 (dir_ / "metrics.jsonl.damaged").c_str());
    damaged_.clear();
  }
  atomic_write_file(dir_ / "metrics.jsonl", jsonl);
  atomic_write_file(dir_ / "metrics.csv", csv);
}

}  // namespace forgery
