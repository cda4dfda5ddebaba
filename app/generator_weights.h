#pragma once
// What sample, eval and translate make images with (torch types: apart from commands.h).
#include <string>

#include "forgery/train/checkpoint.h"

namespace forgery::app {

// The average of `network`'s weights where the run kept one (ema_kimg) and not --no-ema (said
// on stderr), else its trained weights.
NamedTensors generator_weights(const Checkpoint& ck, const std::string& network, bool no_ema, const char* command,
                               bool* used_average = nullptr);

}  // namespace forgery::app
