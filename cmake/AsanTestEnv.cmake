# Read by ctest (TEST_INCLUDE_FILES of the top directory, sanitizer builds
# only) before it starts any test; every test inherits ctest's environment,
# and so does every process a test starts.
#
# The ASan quarantine goes from the default 256 MiB to 64 MiB. With the
# default, each simulator process touched about 450 MiB and spent a third of
# its time in page faults (sim_shard's scenario at 12 agents: 2.5 s wall, of
# which 0.86 s sys; at 64 MiB 1.7 s and 0.43 s). A freed block still waits
# behind 64 MiB of later frees before its memory is handed out again, far
# more than any test frees between a free and a stray use of it. Figures:
# docs/build.md, "CI time", the quarantine.
#
# The caller's own ASAN_OPTIONS come after ours, so they win where both set
# the same option (ASAN_OPTIONS=quarantine_size_mb=256 ctest ... restores the
# default).
if(DEFINED ENV{ASAN_OPTIONS} AND NOT "$ENV{ASAN_OPTIONS}" STREQUAL "")
  set(ENV{ASAN_OPTIONS} "quarantine_size_mb=64:$ENV{ASAN_OPTIONS}")
else()
  set(ENV{ASAN_OPTIONS} "quarantine_size_mb=64")
endif()
