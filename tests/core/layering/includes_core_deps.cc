// Must compile under core/internal/layering_guard.h: what core/ includes.
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/engine.h"
#include "tbb/parallel_for.h"
#include "tbb/task_arena.h"
