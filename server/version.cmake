# Writes server/version.cc into the build tree, run at every build:
#   cmake -DSOURCE_DIR=... -DOUTPUT=... -DACTIVATION_VERSION=...
#         [-DACTIVATION_GIT_SHA=...] -P version.cmake
# configure_file rewrites OUTPUT only when its text changes, so a build
# recompiles the one file, and only after the commit changed.
if(NOT ACTIVATION_GIT_SHA)
  execute_process(COMMAND git rev-parse --short=12 HEAD
    WORKING_DIRECTORY ${SOURCE_DIR}
    OUTPUT_VARIABLE ACTIVATION_GIT_SHA OUTPUT_STRIP_TRAILING_WHITESPACE
    ERROR_QUIET)
endif()
if(NOT ACTIVATION_GIT_SHA)
  set(ACTIVATION_GIT_SHA unknown)
endif()
configure_file(${SOURCE_DIR}/server/version.cc.in ${OUTPUT} @ONLY)
