// The core of lsuv in one include: models, arenas, initialisers, streaming statistics, LSUV and
// int8 quantisation, training (the optimiser, its learning-rate schedules and the trainer).
// File formats (IDX, .npy, weight directories, model specs) are in lsuv/io/ and included apart.
#pragma once

#include "lsuv/arena.hpp"
#include "lsuv/batch_source.hpp"
#include "lsuv/fold.hpp"
#include "lsuv/init.hpp"
#include "lsuv/layer.hpp"
#include "lsuv/lr_schedule.hpp"
#include "lsuv/lsuv_initialize.hpp"
#include "lsuv/model.hpp"
#include "lsuv/quantized_model.hpp"
#include "lsuv/running_stats.hpp"
#include "lsuv/sgd.hpp"
#include "lsuv/status.hpp"
#include "lsuv/tensor.hpp"
#include "lsuv/trainer.hpp"
