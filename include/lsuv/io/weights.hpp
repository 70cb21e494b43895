// Weight directories: a model's parameters as one .npy file per tensor, exactly as PyTorch's
// state_dict() names and shapes them for the equivalent torch.nn modules.
//
//   conv1.weight.npy   float32 (out, in / groups, kh, kw)    OIHW
//   conv1.bias.npy     float32 (out,)                          only for layers with a bias
//   l1.weight.npy      float32 (out, in)                       inputs numbered C x H x W
//   l1.bias.npy        float32 (out,)
//
// so that on the PyTorch side
//
//   state = {k[:-4]: torch.from_numpy(numpy.load(f"{d}/{k}")) for k in os.listdir(d)}
//   net.load_state_dict(state)
//
// loads them (and torch's tensors written with numpy.save load here). The model converts from
// and to its own kernel layout (Layer::parameter_index).
#pragma once

#include "lsuv/model.hpp"
#include "lsuv/status.hpp"

namespace lsuv {

// Writes every parameter of a bound model into `directory`, creating the directory (not its
// parents) when missing. Each file is written atomically; a failure midway can leave some
// files new and the rest as they were, never a half-written file.
// Errors: not_bound, invalid_argument (null or empty directory, a layer name with a path
// separator), file_not_found (the parent of the directory does not exist), io_error.
Status save_weights(const Model& model, const char* directory);

// Reads every parameter of a bound model from `directory`. All files are read and validated
// first; the model is changed only when all of them are good, and is untouched otherwise.
// Files for layers without a bias, or for layers the model lacks, are ignored.
// Errors: not_bound, invalid_argument (as for save_weights), file_not_found (a file is missing),
// unsupported (a file holds another dtype than float32), shape_mismatch (a file's shape differs
// from the layer's), non_finite (NaN or Inf in a file), and read_npy's errors.
Status load_weights(Model& model, const char* directory);

}  // namespace lsuv
