#pragma once
// Files in PyTorch's format (torch.save's zip with data.pkl and one entry per storage), read
// and written so that weights move both ways between Forgery and Python's PyTorch.
#include <ATen/core/ivalue.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace forgery {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Reads a file written by Python's torch.save (of a state_dict, an OrderedDict, nested dicts,
// lists, numbers, strings and tensors) or by Forgery. Dicts come back as GenericDicts in file
// order. Errors name the file and what is wrong (not a zip, truncated, unsupported object).
c10::IValue load_torch_file(const std::filesystem::path& path);
// Every record read is checked against the CRC-32 the archive holds for it (a damaged file is an
// Error naming it). `check_crcs` false skips that, so that the fuzz harness and the parser's
// tests reach the parser with damaged bytes.
c10::IValue load_torch_bytes(const std::string& bytes, const std::string& name, bool check_crcs = true);

// Writes a dict (or any IValue of dicts, lists, numbers, strings and CPU tensors) that
// Python's torch.load reads; atomically.
void save_torch_file(const std::filesystem::path& path, const c10::IValue& value);

// `t` detached on the CPU, contiguous, owning its whole storage (a copy only when needed), to
// be written right away.
at::Tensor standalone_cpu(const at::Tensor& t);

// A copy of `value` (dicts, lists, numbers, strings, tensors) whose tensors are contiguous CPU
// tensors nothing else refers to (copies, except those already so): written later, on another
// thread, while the originals keep changing.
c10::IValue owned_copy(const c10::IValue& value);

// A state_dict: name -> tensor, as Python's load_state_dict expects.
void save_state_dict(const std::filesystem::path& path, const NamedTensors& tensors);
NamedTensors load_state_dict(const std::filesystem::path& path);
// The entries of a dict IValue that are tensors, in order; `what` names it in errors.
NamedTensors tensors_of(const c10::IValue& dict, const std::string& what);

}  // namespace forgery
