# Configure-time pin check (issues #7, #12; docs/build.md "Pinned
# dependencies"): ci/check-pins compares the installed Debian packages with
# ci/deps.txt and writes the exact installed versions to
# ${CMAKE_BINARY_DIR}/pins.lock, which the SBOM step reads.
#
# A moved tool pin never fails. A moved compiler or linked-library pin warns
# here and fails only the release path: OUTPOST_STRICT_PINS=ON, which
# `make deb` and `ci/repro-check --release` set (re-pin with ci/update-pins).
# OUTPOST_ALLOW_UNPINNED=1 in the environment turns every pin error into a
# warning, for experiments only.
option(OUTPOST_STRICT_PINS "Release path: a moved compiler or linked-library pin fails the configure" OFF)
set(_pins_mode)
if(OUTPOST_STRICT_PINS)
  set(_pins_mode --release)
endif()
execute_process(
  COMMAND ${CMAKE_SOURCE_DIR}/ci/check-pins ${_pins_mode} --record ${CMAKE_BINARY_DIR}/pins.lock
  RESULT_VARIABLE _outpost_pins_rc)
if(NOT _outpost_pins_rc EQUAL 0)
  message(FATAL_ERROR "Installed packages do not match the pins in ci/deps.txt (messages above). "
                      "Re-pin deliberately with ci/update-pins, or set OUTPOST_ALLOW_UNPINNED=1 "
                      "for an experiment (docs/build.md).")
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/ci/deps.txt)

# The compiler pin, read from ci/deps.txt so that ci/update-pins moves it too:
# gcc-12's upstream version for GCC (releases), libclang-rt-14-dev's for Clang
# (libFuzzer builds). A compiler pin is of the shipped kind.
file(STRINGS ${CMAKE_SOURCE_DIR}/ci/deps.txt _pin_lines REGEX "^(gcc-12|libclang-rt-14-dev)[ \t]")
foreach(_l ${_pin_lines})
  string(REGEX MATCH "^([^ \t]+)[ \t]+([^ \t]+)" _m "${_l}")
  if(CMAKE_MATCH_1 STREQUAL "gcc-12")
    set(_outpost_cc_pin_GNU ${CMAKE_MATCH_2})
  else()
    set(_outpost_cc_pin_Clang ${CMAKE_MATCH_2})
  endif()
endforeach()
set(_want "${_outpost_cc_pin_${CMAKE_C_COMPILER_ID}}")
if(NOT _want OR NOT CMAKE_C_COMPILER_VERSION VERSION_EQUAL _want)
  set(_msg "C compiler ${CMAKE_C_COMPILER_ID} ${CMAKE_C_COMPILER_VERSION} is not pinned "
           "(pins: GNU ${_outpost_cc_pin_GNU}, Clang ${_outpost_cc_pin_Clang})")
  if(NOT OUTPOST_STRICT_PINS)
    message(WARNING "${_msg}; a development build continues, a release build refuses it "
                    "(re-pin with ci/update-pins)")
  elseif("$ENV{OUTPOST_ALLOW_UNPINNED}" STREQUAL "1")
    message(WARNING "${_msg}; continuing because OUTPOST_ALLOW_UNPINNED=1")
  else()
    message(FATAL_ERROR "${_msg}. A release ships what it was built with: re-pin deliberately "
                        "with ci/update-pins (docs/build.md).")
  endif()
  file(APPEND ${CMAKE_BINARY_DIR}/pins.lock
       "# MOVED compiler ${CMAKE_C_COMPILER_ID}: pinned ${_want}, installed ${CMAKE_C_COMPILER_VERSION}\n")
endif()
file(APPEND ${CMAKE_BINARY_DIR}/pins.lock
     "# compiler\t${CMAKE_C_COMPILER_ID}\t${CMAKE_C_COMPILER_VERSION}\n")
