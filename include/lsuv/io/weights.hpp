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

#include "lsuv/io/file_error.hpp"
#include "lsuv/model.hpp"
#include "lsuv/status.hpp"

namespace lsuv {

// Writes every parameter of a bound model as the directory `directory`, replacing it as a
// whole: the files are written and flushed into a sibling staging directory, which is then
// swapped into place (src/io/atomic_directory.hpp has the details). A kill or a failure at any
// point leaves either the complete old directory or the complete new one; a failure removes
// the staging directory and leaves the old directory exactly as it was. Stale temporaries of
// killed writers (pid gone, or older than an hour) are removed first. An existing directory is
// replaced only when it holds nothing but `*.npy` files: anything else in it (a README, a
// subdirectory) would be lost, so that, a symbolic link or a file in its place is refused.
// Errors: not_bound, invalid_argument (null or empty directory, a layer name with a path
// separator, a directory we must not replace), file_not_found (the parent of the directory
// does not exist), io_error; *error (when not null) names the file and says why ("permission
// denied").
Status save_weights(const Model& model, const char* directory, FileError* error = nullptr);

// Reads every parameter of a bound model from `directory`. All files are read and validated
// first; the model is changed only when all of them are good, and is untouched otherwise.
// Files for layers without a bias, or for layers the model lacks, are ignored. Stale
// temporaries of killed writers next to the directory are removed first (as save_weights).
// Errors: not_bound, invalid_argument (as for save_weights), file_not_found (a file is missing),
// unsupported (a file holds another dtype than float32), shape_mismatch (a file's shape differs
// from the layer's), non_finite (NaN or Inf in a file), and read_npy's errors (io_error for a
// FIFO, a directory or a device in place of a file). *error (when not null) names the file and
// says what was expected and what it holds:
//   wt/conv2.weight.npy: shape (16, 8, 3, 3) expected, file has (16, 8, 5, 5)
Status load_weights(Model& model, const char* directory, FileError* error = nullptr);

}  // namespace lsuv
