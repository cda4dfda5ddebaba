#include "forgery/core/stop.h"

#include <unistd.h>

#include <atomic>
#include <csignal>

namespace forgery {

static std::atomic<int> g_stop_signal{0};
static std::atomic<bool> g_announce{true};

static void on_signal(int sig) {
  if (g_stop_signal.load() != 0) {
    // Second request: the user means it.
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_stop_signal.store(sig);
  const char msg[] = "\nforgery: stop requested; finishing the current step and saving (signal again to abort)\n";
  if (g_announce.load()) {
    ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
  }
}

void install_stop_handlers(bool announce) {
  g_announce.store(announce);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() { return g_stop_signal.load(std::memory_order_relaxed) != 0; }
int stop_signal() { return g_stop_signal.load(); }
void request_stop(int signal_number) { g_stop_signal.store(signal_number); }
void clear_stop_request() { g_stop_signal.store(0); }

}  // namespace forgery
