# The system-call allowlist (issue 13): agent/posix/syscalls.txt is the one
# source; this turns it into outpost_syscalls.h for agent/posix/sandbox.c.
# The unit file is checked against the same text by
# tests/build/test_syscall_lists.sh. Configure-time, and the text is a
# configure dependency, so editing the list rebuilds the filter.
function(outpost_syscalls_header txt out)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${txt}")
  file(STRINGS "${txt}" lines)
  set(run "")
  set(arg "")
  set(asan "")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "#.*$" "" line "${line}")
    string(STRIP "${line}" line)
    if(line STREQUAL "")
      continue()
    endif()
    if(NOT line MATCHES "^([a-z0-9_]+)[ \t]+(run|arg|unit|asan)$")
      message(FATAL_ERROR "${txt}: bad line \"${line}\" (want: NAME run|arg|unit|asan)")
    endif()
    set(name "${CMAKE_MATCH_1}")
    set(tag "${CMAKE_MATCH_2}")
    if(tag STREQUAL "run")
      string(APPEND run " \"${name}\",")
    elseif(tag STREQUAL "arg")
      string(APPEND arg " \"${name}\",")
    elseif(tag STREQUAL "asan")
      string(APPEND asan " \"${name}\",")
    endif()
  endforeach()
  file(CONFIGURE OUTPUT "${out}" CONTENT
"/* Generated from agent/posix/syscalls.txt by cmake/Syscalls.cmake: do not edit. */
#ifndef OUTPOST_SYSCALLS_H
#define OUTPOST_SYSCALLS_H
/* allowed after start-up in `run` without condition */
#define OUTPOST_SYSCALLS_RUN${run} NULL
/* allowed in `run` only with the argument check in sandbox.c */
#define OUTPOST_SYSCALLS_ARG${arg} NULL
/* allowed in sanitizer builds of `run` only */
#define OUTPOST_SYSCALLS_ASAN${asan} NULL
#endif
" @ONLY)
endfunction()
