# Configure-time pin check (issue #7): installed Debian packages must match
# ci/deps.txt (see its header), and the C compiler must be the pinned one.
# The exact installed versions land in ${CMAKE_BINARY_DIR}/pins.lock, which
# the SBOM step reads. OUTPOST_ALLOW_UNPINNED=1 in the environment turns
# mismatches into warnings.
execute_process(
  COMMAND ${CMAKE_SOURCE_DIR}/ci/check-pins --record ${CMAKE_BINARY_DIR}/pins.lock
  RESULT_VARIABLE _outpost_pins_rc)
if(NOT _outpost_pins_rc EQUAL 0)
  message(FATAL_ERROR "Installed packages do not match the pins in ci/deps.txt (messages above). "
                      "Set OUTPOST_ALLOW_UNPINNED=1 to build anyway (docs/build.md).")
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/ci/deps.txt)

# The compiler pin: gcc-12 for releases, clang 14 for libFuzzer builds.
set(_outpost_cc_pin_GNU 12.2.0)
set(_outpost_cc_pin_Clang 14.0.6)
set(_want "${_outpost_cc_pin_${CMAKE_C_COMPILER_ID}}")
if(NOT _want OR NOT CMAKE_C_COMPILER_VERSION VERSION_EQUAL _want)
  set(_msg "C compiler ${CMAKE_C_COMPILER_ID} ${CMAKE_C_COMPILER_VERSION} is not pinned "
           "(pins: GNU ${_outpost_cc_pin_GNU}, Clang ${_outpost_cc_pin_Clang})")
  if("$ENV{OUTPOST_ALLOW_UNPINNED}" STREQUAL "1")
    message(WARNING "${_msg}; continuing because OUTPOST_ALLOW_UNPINNED=1")
  else()
    message(FATAL_ERROR "${_msg}. Set OUTPOST_ALLOW_UNPINNED=1 to build anyway (docs/build.md).")
  endif()
endif()
file(APPEND ${CMAKE_BINARY_DIR}/pins.lock
     "# compiler\t${CMAKE_C_COMPILER_ID}\t${CMAKE_C_COMPILER_VERSION}\n")
