#include "forgery/train/report.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/core/runtime.h"
#include "forgery/io/html.h"
#include "forgery/models/registry.h"
#include "forgery/train/options.h"
#include "forgery/train/recipe.h"

namespace forgery {

namespace {

std::string num(double v, int digits = 4) {
  if (!std::isfinite(v)) return "";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

std::string human_size(uintmax_t bytes) {
  char buf[32];
  if (bytes >= (1u << 20)) std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1048576.0);
  else if (bytes >= 1024) std::snprintf(buf, sizeof buf, "%.1f kB", bytes / 1024.0);
  else std::snprintf(buf, sizeof buf, "%ju B", bytes);
  return buf;
}

std::string read_if_exists(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return "";
  return read_file(p);
}

struct Table {
  std::vector<std::string> columns;
  std::vector<nlohmann::ordered_json> rows;
  std::vector<double> column(const std::string& name) const {
    std::vector<double> v;
    for (const auto& r : rows)
      v.push_back(r.contains(name) && r[name].is_number() ? r[name].get<double>() : NAN);
    return v;
  }
};

Table read_metrics(const fs::path& file) {
  Table t;
  std::ifstream in(file);
  std::string line;
  int n = 0;
  std::set<std::string> seen;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::ordered_json j;
    try {
      j = nlohmann::ordered_json::parse(line);
      if (!j.is_object()) throw std::runtime_error("not a JSON object");
    } catch (const std::exception& e) {
      // As the trainer reads it: a damaged line is left out, said, and the rest reported.
      std::fprintf(stderr, "forgery: warning: metrics file %s line %d is not a JSON record; left out of the report\n",
                   file.c_str(), n);
      continue;
    }
    for (auto it = j.begin(); it != j.end(); ++it)
      if (seen.insert(it.key()).second) t.columns.push_back(it.key());
    t.rows.push_back(std::move(j));
  }
  return t;
}

bool higher_is_better(const std::string& metric) {
  for (const char* k : {"psnr", "ssim", "is_mean", "precision", "recall", "accuracy", "share", "covered"})
    if (metric.find(k) != std::string::npos) return true;
  return false;
}

const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

// The loss curves as inline SVG: one <path class="curve"> per loss.
std::string loss_chart(const Table& t, const std::vector<ReportLoss>& losses) {
  const double W = 760, H = 300, L = 60, R = 16, T = 14, B = 34;
  std::vector<double> x = t.column("epoch");
  double ymin = INFINITY, ymax = -INFINITY;
  std::vector<ReportLoss> shown;
  for (const auto& l : losses) {
    if (!l.plot) continue;
    bool any = false;
    for (double v : t.column(l.name))
      if (std::isfinite(v)) {
        ymin = std::min(ymin, v);
        ymax = std::max(ymax, v);
        any = true;
      }
    if (any) shown.push_back(l);
  }
  std::ostringstream s;
  if (shown.empty() || x.empty()) return "<p>No losses recorded yet.</p>";
  if (ymax - ymin < 1e-12) {
    ymin -= 0.5;
    ymax += 0.5;
  }
  const double xmin = x.front(), xmax = std::max(x.back(), x.front() + 1);
  auto px = [&](double v) { return L + (v - xmin) / (xmax - xmin) * (W - L - R); };
  auto py = [&](double v) { return T + (ymax - v) / (ymax - ymin) * (H - T - B); };
  s << "<svg id=\"losses\" viewBox=\"0 0 " << W << ' ' << H << "\" width=\"" << W << "\" height=\"" << H
    << "\" role=\"img\" aria-label=\"losses per epoch\">\n";
  s << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << W - L - R << "\" height=\"" << H - T - B
    << "\" fill=\"#fafafa\" stroke=\"#ccc\"/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double v = ymin + (ymax - ymin) * i / 4;
    s << "<line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << py(v) << "\" y2=\"" << py(v)
      << "\" stroke=\"#e4e4e4\"/><text x=\"" << L - 6 << "\" y=\"" << py(v) + 4
      << "\" text-anchor=\"end\" font-size=\"11\">" << num(v, 3) << "</text>\n";
  }
  s << "<text x=\"" << px(xmin) << "\" y=\"" << H - 14 << "\" text-anchor=\"middle\" font-size=\"11\">" << num(xmin)
    << "</text><text x=\"" << px(x.back()) << "\" y=\"" << H - 14 << "\" text-anchor=\"middle\" font-size=\"11\">"
    << num(x.back()) << "</text><text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 2
    << "\" text-anchor=\"middle\" font-size=\"11\">epoch</text>\n";
  for (size_t k = 0; k < shown.size(); ++k) {
    const char* colour = kColours[k % (sizeof kColours / sizeof *kColours)];
    std::vector<double> y = t.column(shown[k].name);
    std::string d;
    bool pen = false;
    for (size_t i = 0; i < y.size(); ++i) {
      if (!std::isfinite(y[i]) || !std::isfinite(x[i])) {
        pen = false;
        continue;
      }
      d += (pen ? " L" : " M") + num(px(x[i]), 6) + " " + num(py(y[i]), 6);
      pen = true;
    }
    s << "<path class=\"curve\" data-loss=\"" << html_escape(shown[k].name) << "\" d=\"" << d << "\" fill=\"none\" stroke=\""
      << colour << "\" stroke-width=\"1.8\"/>\n";
    if (y.size() <= 60)
      for (size_t i = 0; i < y.size(); ++i)
        if (std::isfinite(y[i]))
          s << "<circle cx=\"" << num(px(x[i]), 6) << "\" cy=\"" << num(py(y[i]), 6) << "\" r=\"2.2\" fill=\"" << colour
            << "\"/>";
    s << "\n";
  }
  s << "</svg>\n<p class=\"legend\">";
  for (size_t k = 0; k < shown.size(); ++k)
    s << "<span><i style=\"background:" << kColours[k % (sizeof kColours / sizeof *kColours)] << "\"></i>"
      << html_escape(shown[k].label.empty() ? shown[k].name : shown[k].label) << " (<code>" << html_escape(shown[k].name)
      << "</code>)</span> ";
  s << "</p>\n";
  return s.str();
}

std::string cell(const nlohmann::ordered_json& row, const std::string& key) {
  if (!row.contains(key)) return "";
  const auto& v = row[key];
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) return num(v.get<double>(), 5);
  if (v.is_string()) return html_escape(v.get<std::string>());
  return html_escape(v.dump());
}

std::vector<std::string> files_in(const fs::path& dir, const std::string& ext = "") {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name.find(".tmp-") != std::string::npos) continue;
    if (!ext.empty() && e.path().extension() != ext) continue;
    out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string now_text() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", std::localtime(&t));
  return buf;
}

}  // namespace

void write_report(const fs::path& run_dir, const ReportInfo& info) {
  const std::string config_text = read_if_exists(run_dir / "config.toml");
  const std::string name = fs::absolute(run_dir).lexically_normal().filename().string();
  std::string model = "?";
  int64_t total_epochs = 0;
  try {
    if (auto m = Config::peek_string(config_text, "model", "config.toml")) model = *m;
    Config c = config_from_toml(config_text, (run_dir / "config.toml").string());
    total_epochs = c.get_int("epochs");
  } catch (const Error&) {
    // A report of a folder whose config cannot be read still shows everything else.
  }
  Table t = read_metrics(run_dir / "metrics.jsonl");
  const int64_t done = t.rows.empty() ? 0 : t.rows.back().value("epoch", int64_t{0});

  // Columns that are neither losses nor evaluation figures (a data-parallel run's world size and
  // time in collectives included).
  std::set<std::string> loss_names, timing = {"epoch",        "step",       "seconds",           "images_per_sec",
                                              "eval_seconds", "world_size", "collective_seconds"};
  for (const auto& l : info.losses) loss_names.insert(l.name);
  std::vector<std::string> eval_cols;
  for (const auto& c : t.columns)
    if (!loss_names.count(c) && !timing.count(c) && c.rfind("lr_", 0) != 0) eval_cols.push_back(c);

  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" << html_escape(name)
    << " — Forgery run report</title>\n<style>\n"
       "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#222}\n"
       "h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}\n"
       "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}\n"
       "th{background:#f3f3f3}.scroll{overflow:auto;max-height:420px}pre{background:#f6f6f6;padding:8px;"
       "overflow:auto;max-height:360px;font-size:12px}\n.legend span{margin-right:14px}.legend i{display:inline-block;"
       "width:14px;height:3px;vertical-align:middle;margin-right:4px}\n#frame{max-width:100%;image-rendering:pixelated;"
       "border:1px solid #ccc}.strip{display:flex;gap:4px;overflow-x:auto;padding:4px 0}.strip img{height:64px;"
       "cursor:pointer;border:2px solid transparent}.strip img.on{border-color:#1f77b4}\n"
       "img[data-state=missing]{outline:2px solid #d62728}#missing{color:#d62728}.kv td:first-child{text-align:left}\n"
       "</style></head>\n<body>\n";
  h << "<h1>" << html_escape(name) << "</h1>\n<p>Model <b>" << html_escape(model) << "</b>, epoch <b id=\"done\">" << done << "</b> of "
    << total_epochs << (total_epochs > 0 && done >= total_epochs ? " (finished)" : "") << ". Report written "
    << html_escape(now_text()) << " by Forgery. <span id=\"missing\"></span></p>\n";

  // Speed and machine.
  {
    std::vector<double> ips = t.column("images_per_sec"), secs = t.column("seconds"), evs = t.column("eval_seconds");
    std::vector<double> finite;
    double train_s = 0, eval_s = 0;
    for (double v : ips)
      if (std::isfinite(v)) finite.push_back(v);
    for (double v : secs)
      if (std::isfinite(v)) train_s += v;
    for (double v : evs)
      if (std::isfinite(v)) eval_s += v;
    std::sort(finite.begin(), finite.end());
    h << "<h2>Speed and machine</h2>\n<table class=\"kv\">";
    if (!finite.empty())
      h << "<tr><td>images per second (median over epochs, min–max)</td><td>" << num(finite[finite.size() / 2])
        << " (" << num(finite.front()) << "–" << num(finite.back()) << ")</td></tr>";
    h << "<tr><td>training time</td><td>" << num(train_s, 5) << " s</td></tr>";
    if (eval_s > 0) h << "<tr><td>evaluation time</td><td>" << num(eval_s, 5) << " s</td></tr>";
    h << "</table>\n";
    const std::string machine = read_if_exists(run_dir / "machine.txt");
    h << (machine.empty() ? "<p>The machine was not recorded (a run made before machine.txt).</p>\n"
                          : "<pre id=\"machine\">" + html_escape(machine) + "</pre>\n");
  }

  // Evaluation: best and last of every figure.
  if (!eval_cols.empty()) {
    h << "<h2>Evaluation</h2>\n<table id=\"evaluation\"><tr><th>metric</th><th>best</th><th>at epoch</th><th>last</th>"
         "<th>at epoch</th></tr>\n";
    std::vector<double> ep = t.column("epoch");
    for (const auto& c : eval_cols) {
      std::vector<double> v = t.column(c);
      const bool up = higher_is_better(c);
      double best = NAN, last = NAN, best_e = NAN, last_e = NAN;
      for (size_t i = 0; i < v.size(); ++i) {
        if (!std::isfinite(v[i])) continue;
        if (!std::isfinite(best) || (up ? v[i] > best : v[i] < best)) {
          best = v[i];
          best_e = ep[i];
        }
        last = v[i];
        last_e = ep[i];
      }
      if (!std::isfinite(last)) continue;
      h << "<tr><td style=\"text-align:left\">" << html_escape(c) << (c == info.best_metric ? " (keeps checkpoints/best.pt)" : "")
        << (up ? " ↑" : " ↓") << "</td><td>" << num(best, 5) << "</td><td>" << num(best_e) << "</td><td>"
        << num(last, 5) << "</td><td>" << num(last_e) << "</td></tr>\n";
    }
    h << "</table>\n";
    std::vector<std::string> evals = files_in(run_dir / "eval", ".json");
    if (!evals.empty()) {
      h << "<p>forgery eval reports: ";
      for (const auto& f : evals) h << "<a href=\"" << url_path("eval/" + f) << "\">" << html_escape(f) << "</a> ";
      h << "</p>\n";
    }
  }

  h << "<h2>Losses</h2>\n" << loss_chart(t, info.losses);

  // Every epoch's picture: a slider over a large view, and a filmstrip.
  std::vector<std::string> frames, others;
  for (const auto& f : files_in(run_dir / "samples", ".png"))
    (f.rfind("epoch_", 0) == 0 ? frames : others).push_back(f);
  h << "<h2>Samples</h2>\n";
  if (frames.empty()) {
    h << "<p>No pictures yet.</p>\n";
  } else {
    h << "<p><input type=\"range\" id=\"slider\" min=\"0\" max=\"" << frames.size() - 1 << "\" value=\""
      << frames.size() - 1 << "\" style=\"width:60%\"> <span id=\"frame-name\">" << html_escape(frames.back())
      << "</span></p>\n<img id=\"frame\" alt=\"the picture of the chosen epoch\" src=\"" << url_path("samples/" + frames.back())
      << "\">\n<div class=\"strip\" id=\"strip\">";
    for (size_t i = 0; i < frames.size(); ++i)
      h << "<img src=\"" << url_path("samples/" + frames[i]) << "\" alt=\"" << html_escape(frames[i]) << "\" title=\""
        << html_escape(frames[i]) << "\" data-index=\"" << i << "\">";
    h << "</div>\n";
  }
  std::error_code ec;
  if (fs::exists(run_dir / "progress.gif", ec)) others.insert(others.begin(), "../progress.gif");
  for (const auto& f : others) {
    const std::string rel = f.rfind("../", 0) == 0 ? f.substr(3) : "samples/" + f;
    h << "<figure><img src=\"" << url_path(rel) << "\" alt=\"" << html_escape(rel) << "\"><figcaption>" << html_escape(rel)
      << "</figcaption></figure>\n";
  }

  // The metrics table, a row per epoch.
  h << "<h2>Metrics</h2>\n<div class=\"scroll\"><table id=\"metrics\"><thead><tr>";
  for (const auto& c : t.columns) h << "<th>" << html_escape(c) << "</th>";
  h << "</tr></thead><tbody>\n";
  for (const auto& r : t.rows) {
    h << "<tr class=\"epoch\">";
    for (const auto& c : t.columns) h << "<td>" << cell(r, c) << "</td>";
    h << "</tr>\n";
  }
  h << "</tbody></table></div>\n<p><a href=\"metrics.csv\">metrics.csv</a> · <a href=\"metrics.jsonl\">metrics.jsonl</a>"
    << (fs::exists(run_dir / "losses.svg", ec) ? " · <a href=\"losses.svg\">losses.svg</a>" : "")
    << (fs::exists(run_dir / "losses.png", ec) ? " · <a href=\"losses.png\">losses.png</a>" : "") << "</p>\n";

  // Weights and checkpoints.
  h << "<h2>Weights and checkpoints</h2>\n<table class=\"kv\" id=\"files\">";
  for (const char* sub : {"weights", "checkpoints"})
    for (const auto& f : files_in(run_dir / sub)) {
      const std::string rel = std::string(sub) + "/" + f;
      h << "<tr><td><a href=\"" << url_path(rel) << "\">" << html_escape(rel) << "</a></td><td>"
        << human_size(fs::file_size(run_dir / sub / f, ec)) << "</td></tr>";
    }
  h << "</table>\n<p>Weights are PyTorch state_dicts with the reference's key names (<code>forgery export</code> "
       "writes safetensors); checkpoints resume exactly with <code>forgery resume</code>.</p>\n";

  h << "<h2>Options</h2>\n<pre id=\"options\">" << html_escape(config_text) << "</pre>\n";

  // Slider and filmstrip; every image marks whether it loaded.
  h << "<script>\n"
       "(function(){\n"
       "  var imgs=document.querySelectorAll('img'), missing=0;\n"
       "  function mark(img,ok){img.dataset.state=ok?'loaded':'missing';if(!ok){missing++;"
       "document.getElementById('missing').textContent=missing+' image(s) could not be loaded.';}}\n"
       "  imgs.forEach(function(img){\n"
       "    if(img.complete&&img.naturalWidth>0)mark(img,true);\n"
       "    else if(img.complete&&img.getAttribute('src'))mark(img,false);\n"
       "    else{img.addEventListener('load',function(){mark(img,true)});"
       "img.addEventListener('error',function(){mark(img,false)});}\n"
       "  });\n"
       "  var s=document.getElementById('slider');if(!s)return;\n"
       "  var strip=document.querySelectorAll('#strip img'),frame=document.getElementById('frame'),"
       "label=document.getElementById('frame-name');\n"
       "  function show(i){frame.src=strip[i].src;label.textContent=strip[i].title;"
       "strip.forEach(function(x,j){x.classList.toggle('on',j==i)});}\n"
       "  s.addEventListener('input',function(){show(+s.value)});\n"
       "  strip.forEach(function(x){x.addEventListener('click',function(){s.value=x.dataset.index;show(+s.value)})});\n"
       "  show(+s.value);\n"
       "})();\n"
       "</script>\n</body></html>\n";
  atomic_write_file(run_dir / "report.html", h.str());
}

void write_report_for_run(const fs::path& run_dir) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec))
    throw Error("report: " + run_dir.string() +
                (fs::exists(run_dir, ec) ? " is a file; give the run folder it belongs to" : " does not exist"));
  if (!fs::exists(run_dir / "config.toml", ec))
    throw Error("report: " + run_dir.string() + " has no config.toml; is it a Forgery run folder?");
  if (!fs::exists(run_dir / "metrics.jsonl", ec))
    throw Error("report: " + run_dir.string() + " has no metrics.jsonl yet (no epoch finished)");
  const std::string text = read_file(run_dir / "config.toml");
  Config config;
  try {
    config = config_from_toml(text, (run_dir / "config.toml").string());
  } catch (const UsageError& e) {
    throw Error(e.what());  // a damaged file, not a mistake on the command line (exit 1, not 2)
  }
  const ModelInfo& model = find_model(config.get_string("model"));
  std::unique_ptr<Recipe> recipe = find_recipe(model.recipe).make(config, c10::Device(c10::kCPU));
  ReportInfo info;
  for (const auto& l : recipe->losses()) info.losses.push_back({l.name, l.label, l.plot});
  info.best_metric = recipe->best_metric();
  write_report(run_dir, info);
}

std::string describe_machine(const std::string& what, int threads, const std::string& device,
                             const std::string& libtorch_version) {
  std::string cpu;
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  std::string s = now_text() + "  " + what + " on " + host + ": " + (cpu.empty() ? "unknown CPU" : cpu) + ", " +
                  std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " logical cores, " + std::to_string(threads) +
                  " thread(s), BLAS " + blas_description() + ", device " + device + ", LibTorch " + libtorch_version +
                  ", forgery " + FORGERY_VERSION;
  return s;
}

void record_machine(const fs::path& run_dir, const std::string& line) {
  atomic_write_file(run_dir / "machine.txt", read_if_exists(run_dir / "machine.txt") + line + "\n");
}

}  // namespace forgery
