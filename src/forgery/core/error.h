#pragma once
#include <stdexcept>
#include <string>

namespace forgery {

// Every error a user can cause (bad file, bad option, dead peer) is a forgery::Error whose
// message names the thing at fault and the problem; the tool prints it and exits non-zero.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A command-line usage mistake (unknown option or preset, bad value): exit code 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

}  // namespace forgery
