#include "forgery/core/background.h"

#include <pthread.h>
#include <signal.h>

#include <cstdio>

namespace forgery {

BackgroundWriter::BackgroundWriter() {
  // The thread starts with every signal blocked (it inherits the mask in force here).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  thread_ = std::thread([this] { loop(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

BackgroundWriter::~BackgroundWriter() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !busy_; });
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (error_ && !reported_) {
    try {
      std::rethrow_exception(error_);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "forgery: %s\n", e.what());
    } catch (...) {
    }
  }
}

void BackgroundWriter::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return quit_ || busy_; });
    if (!busy_) return;
    std::function<void()> job = std::move(job_);
    job_ = nullptr;
    lock.unlock();
    std::exception_ptr error;
    try {
      job();
    } catch (...) {
      error = std::current_exception();
    }
    job = nullptr;  // what the job held (a snapshot) is freed before the next one is accepted
    lock.lock();
    if (error && !error_) error_ = error;
    busy_ = false;
    cv_.notify_all();
  }
}

void BackgroundWriter::wait_locked(std::unique_lock<std::mutex>& lock) {
  cv_.wait(lock, [this] { return !busy_; });
  if (error_) {
    reported_ = true;
    std::rethrow_exception(error_);  // every time: no job runs after a failed one
  }
}

void BackgroundWriter::post(std::function<void()> job) {
  std::unique_lock<std::mutex> lock(mu_);
  wait_locked(lock);
  job_ = std::move(job);
  busy_ = true;
  cv_.notify_all();
}

void BackgroundWriter::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  wait_locked(lock);
}

bool BackgroundWriter::busy() {
  std::lock_guard<std::mutex> lock(mu_);
  return busy_;
}

void BackgroundWriter::check() {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_) {
    reported_ = true;
    std::rethrow_exception(error_);
  }
}

}  // namespace forgery
