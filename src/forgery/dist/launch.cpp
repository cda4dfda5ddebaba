#include "forgery/dist/launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>

extern char** environ;
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "forgery/core/error.h"

namespace forgery::dist {

bool is_worker() { return std::getenv(kWorkerVariable) != nullptr; }

namespace {

std::atomic<int> g_forward{0};  // a signal to pass on to the workers

void on_signal(int sig) { g_forward.store(sig); }

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(std::string("--nproc: cannot open a socket to find a free port: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd);
    throw Error(std::string("--nproc: no free TCP port on 127.0.0.1: ") + std::strerror(err));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return "was killed by signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "ended with status " + std::to_string(status);
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

int run_local_workers(int nproc, char** argv, double grace_seconds) {
  const int port = free_port();
  struct sigaction sa {}, old_int {}, old_term {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  const pid_t launcher = ::getpid();
  std::vector<pid_t> pids(nproc, -1);
  std::vector<bool> running(nproc, false);
  std::fflush(stdout);
  std::fflush(stderr);
  // Each worker's environment, made before fork: between fork and exec only async-signal-safe
  // calls (no allocation).
  std::vector<std::vector<std::string>> envs(nproc);
  std::vector<std::vector<char*>> envps(nproc);
  const char* drop[] = {"RANK=", "LOCAL_RANK=", "WORLD_SIZE=", "LOCAL_WORLD_SIZE=", "MASTER_ADDR=", "MASTER_PORT=",
                        "TORCHELASTIC_USE_AGENT_STORE=", "FORGERY_WORKER="};
  for (int r = 0; r < nproc; ++r) {
    for (char** e = environ; *e; ++e) {
      bool keep = true;
      for (const char* d : drop) keep = keep && std::strncmp(*e, d, std::strlen(d)) != 0;
      if (keep) envs[r].emplace_back(*e);
    }
    for (const auto& kv : {std::string("RANK=") + std::to_string(r), std::string("LOCAL_RANK=") + std::to_string(r),
                           std::string("WORLD_SIZE=") + std::to_string(nproc),
                           std::string("LOCAL_WORLD_SIZE=") + std::to_string(nproc), std::string("MASTER_ADDR=127.0.0.1"),
                           std::string("MASTER_PORT=") + std::to_string(port), std::string(kWorkerVariable) + "=1"})
      envs[r].push_back(kv);
    for (auto& kv : envs[r]) envps[r].push_back(kv.data());
    envps[r].push_back(nullptr);
  }
  for (int r = 0; r < nproc; ++r) {
    pid_t pid = ::fork();
    if (pid < 0) {
      const int err = errno;
      for (int k = 0; k < r; ++k) ::kill(pids[k], SIGKILL);
      throw Error(std::string("--nproc: cannot start worker process ") + std::to_string(r) + ": " + std::strerror(err));
    }
    if (pid == 0) {
      // The worker: its own process group (a terminal's Ctrl-C reaches the launcher, which
      // passes it on once), and SIGTERM when the launcher dies (it stops and saves).
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != launcher) ::_exit(1);
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      ::execve("/proc/self/exe", argv, envps[r].data());
      static const char msg[] = "forgery: --nproc: cannot start a worker process\n";
      ssize_t ignored = ::write(2, msg, sizeof msg - 1);
      (void)ignored;
      ::_exit(127);
    }
    pids[r] = pid;
    running[r] = true;
  }
  int first_failure = -1, result = 0, alive = nproc;
  auto failed_at = std::chrono::steady_clock::time_point{};
  bool terminated = false, killed = false;
  while (alive > 0) {
    if (int sig = g_forward.exchange(0); sig != 0)
      for (int r = 0; r < nproc; ++r)
        if (running[r]) ::kill(pids[r], sig);
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (int r = 0; r < nproc; ++r)
        if (pids[r] == pid && running[r]) {
          running[r] = false;
          --alive;
          const int code = exit_code(status);
          // A stop request (130, 143) ends every rank alike; anything else is a failure after
          // which the others cannot go on.
          if (code != 0 && code != 130 && code != 143 && first_failure < 0) {
            first_failure = r;
            result = code;
            failed_at = std::chrono::steady_clock::now();
          }
          // Stopped by a request (SIGINT/SIGTERM codes) is not a failure to report.
          if (code != 0 && result == 0) result = code;
          if (code != 0 && code != 130 && code != 143)
            std::fprintf(stderr, "forgery: rank %d (pid %d) %s\n", r, static_cast<int>(pid), describe(status).c_str());
        }
      continue;
    }
    if (pid < 0 && errno != EINTR && errno != ECHILD) break;
    if (first_failure >= 0) {
      const double since = std::chrono::duration<double>(std::chrono::steady_clock::now() - failed_at).count();
      if (!terminated && since > grace_seconds) {
        std::fprintf(stderr, "forgery: stopping the ranks still running %.0f s after rank %d ended\n", since, first_failure);
        for (int r = 0; r < nproc; ++r)
          if (running[r]) ::kill(pids[r], SIGTERM);
        terminated = true;
      } else if (terminated && !killed && since > grace_seconds + 10) {
        for (int r = 0; r < nproc; ++r)
          if (running[r]) ::kill(pids[r], SIGKILL);
        killed = true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  return result;
}

}  // namespace forgery::dist
