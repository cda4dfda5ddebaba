// Precompiled header for translation units that use LibTorch (parsing torch.h costs tens of
// seconds per unit on a small machine).
#pragma once
#include <torch/torch.h>
#include <string>
#include <vector>
#include <map>
#include <memory>
#include <functional>
