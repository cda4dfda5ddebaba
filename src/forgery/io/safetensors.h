#pragma once
// safetensors, the weights format of the Hugging Face ecosystem: an 8-byte little-endian header
// length, a JSON header {NAME: {dtype, shape, data_offsets}, "__metadata__": {...}}, then the
// tensors' bytes, back to back. Read with every check the format's own library makes, so that a
// file Forgery accepts is one Python's safetensors accepts and the other way round.
#include <filesystem>
#include <map>
#include <string>

#include "forgery/io/torch_file.h"

namespace forgery {

// Writes `tensors` (any of the format's dtypes; copied to the CPU, contiguous) in their order,
// with string metadata; atomically.
void save_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads every tensor in the order of its offsets. Errors name the file and the problem: a
// truncated file, a header that is not JSON or not the format's, an unknown dtype, a shape that
// does not match its byte range, offsets out of range, overlapping or leaving bytes unused.
NamedTensors load_safetensors(const std::filesystem::path& path, std::map<std::string, std::string>* metadata = nullptr);
NamedTensors load_safetensors_bytes(const std::string& bytes, const std::string& name,
                                    std::map<std::string, std::string>* metadata = nullptr);

// A .safetensors name, or a file that starts as one does (a header length, then '{').
bool is_safetensors_file(const std::filesystem::path& path);

// Weights from a PyTorch file or a safetensors file (a flat state_dict, as a dict of tensors):
// what --init-from and translate read.
c10::IValue load_weights_file(const std::filesystem::path& path);

}  // namespace forgery
