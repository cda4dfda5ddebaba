#pragma once
// One background thread that writes a run's artifacts while training goes on.
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace forgery {

// Runs posted jobs one at a time, in order, on its own thread, with at most one job queued or
// running: post() first waits for the previous job, so one epoch's writes overlap the next
// epoch's training and never more (the memory of one snapshot). A job that throws keeps its
// exception; the next post() or wait() rethrows it on the caller's thread and no later job
// runs, so the files on disk are always the writes of a prefix of the jobs, in order.
// Signals are blocked on the thread: they reach the training thread.
class BackgroundWriter {
 public:
  BackgroundWriter();
  // Waits for the job in progress (a file is never left half-written by us); an exception it
  // threw is reported on stderr, not thrown.
  ~BackgroundWriter();
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  void post(std::function<void()> job);
  // Until the job posted last has finished; rethrows what a job threw (then every call does).
  void wait();
  // Whether a job is still running (post() would wait for it).
  bool busy();
  // Rethrows what a job threw, without waiting for the one running.
  void check();

 private:
  void loop();
  void wait_locked(std::unique_lock<std::mutex>& lock);

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool busy_ = false, quit_ = false, reported_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace forgery
