// Must fail to compile under core/internal/layering_guard.h.
#include <google/protobuf/message.h>
