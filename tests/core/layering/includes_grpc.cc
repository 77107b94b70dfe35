// Must fail to compile under core/internal/layering_guard.h.
#include <grpcpp/grpcpp.h>
