#pragma once
// Pieces of the HTML pages Forgery writes (report.html, translate's index.html). No torch here.
#include <string>

namespace forgery {

// Text for HTML (& < > " ' escaped).
std::string html_escape(const std::string& text);
// A relative path for an href or src: each byte a URL cannot hold as it is percent-encoded,
// '/' kept.
std::string url_path(const std::string& relative);

}  // namespace forgery
