// kiln::optim: optimizers (sgd, adam, adamw), learning-rate schedules (step_lr,
// cosine_annealing, reduce_lr_on_plateau), early stopping and gradient clipping.
#pragma once

#include "adam.hpp"
#include "clip.hpp"
#include "early_stopping.hpp"
#include "schedule.hpp"
#include "sgd.hpp"
