#pragma once
// Graceful stop on SIGINT/SIGTERM: the loop finishes its step, saves, and exits non-zero.

namespace forgery {

// Installs the handlers; a second signal while stopping ends the process at once. `announce`:
// the first signal prints that the run is stopping (one rank of a data-parallel run says it).
void install_stop_handlers(bool announce = true);
bool stop_requested();
int stop_signal();  // the signal that asked for the stop, 0 if none
void request_stop(int signal_number);
void clear_stop_request();

}  // namespace forgery
