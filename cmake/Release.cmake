# Release artefacts (issue #7): the list of shipped binaries, the .deb and one
# SPDX SBOM per artefact, all under ${CMAKE_BINARY_DIR}/release.
#
# Shipped binaries are the product executables that exist in this tree; tests
# and ci/repro-check read them from shipped-binaries.txt rather than guessing.
set(OUTPOST_SHIPPED_TARGETS)
foreach(t outpost-agent outpost-cloud outpost-sim)
  if(TARGET ${t})
    list(APPEND OUTPOST_SHIPPED_TARGETS ${t})
  endif()
endforeach()
set(_lines "")
foreach(t ${OUTPOST_SHIPPED_TARGETS})
  string(APPEND _lines "$<TARGET_FILE:${t}>\n")
endforeach()
file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/shipped-binaries.txt CONTENT "${_lines}")

# SOURCE_DATE_EPOCH: the environment's if set (ci/repro-check sets it), else
# the last commit's time, else a constant, so a plain build is reproducible too.
if(DEFINED ENV{SOURCE_DATE_EPOCH})
  set(OUTPOST_SOURCE_DATE_EPOCH $ENV{SOURCE_DATE_EPOCH})
else()
  execute_process(COMMAND git -C ${CMAKE_SOURCE_DIR} log -1 --format=%ct
                  OUTPUT_VARIABLE OUTPOST_SOURCE_DATE_EPOCH OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET RESULT_VARIABLE _git_rc)
  if(NOT _git_rc EQUAL 0 OR NOT OUTPOST_SOURCE_DATE_EPOCH)
    set(OUTPOST_SOURCE_DATE_EPOCH 1700000000)
  endif()
endif()

# The release set is built by default in optimised, unsanitised configurations
# (what `make build` makes); Debug/ASan/fuzz trees are not releases.
string(TOUPPER "${CMAKE_BUILD_TYPE}" _bt)
if(TARGET outpost-agent AND OUTPOST_HARDEN AND NOT OUTPOST_SANITIZE AND NOT OUTPOST_FUZZ
   AND NOT _bt STREQUAL "DEBUG")
  set(OUTPOST_RELEASE ON)
else()
  set(OUTPOST_RELEASE OFF)
endif()
# The package's trust roots (docs/updates.md, docs/build.md): the TUF root
# given here and the release key compiled into the agent
# (OUTPOST_RELEASE_PUBKEY, agent/CMakeLists.txt), both or neither; without
# them (no OUTPOST_TUF_ROOT) the .deb ships no trust roots and its default
# config keeps updates off.
set(OUTPOST_TUF_ROOT "" CACHE FILEPATH
    "root.json of the release repository, pinned in the .deb (needs OUTPOST_RELEASE_PUBKEY)")
set(_trust_args)
set(_trust_deps)
if(OUTPOST_TUF_ROOT)
  if(NOT OUTPOST_RELEASE_PUBKEY)
    message(FATAL_ERROR "OUTPOST_TUF_ROOT needs OUTPOST_RELEASE_PUBKEY: without a compiled-in "
            "release key the packaged agent refuses every update")
  endif()
  if(NOT EXISTS "${OUTPOST_TUF_ROOT}")
    message(FATAL_ERROR "OUTPOST_TUF_ROOT: ${OUTPOST_TUF_ROOT} does not exist")
  endif()
  set(_trust_args ${OUTPOST_TUF_ROOT} ${OUTPOST_RELEASE_PUBKEY})
  set(_trust_deps ${OUTPOST_TUF_ROOT} ${OUTPOST_RELEASE_PUBKEY})
  message(STATUS "Package trust roots: ${OUTPOST_TUF_ROOT}, ${OUTPOST_RELEASE_PUBKEY}")
else()
  message(STATUS "Package trust roots: none (no OUTPOST_TUF_ROOT): the .deb keeps updates off")
endif()

if(OUTPOST_RELEASE)
  execute_process(COMMAND dpkg --print-architecture OUTPUT_VARIABLE _arch
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(_rel ${CMAKE_BINARY_DIR}/release)
  set(OUTPOST_DEB ${_rel}/outpost-agent_${PROJECT_VERSION}_${_arch}.deb)
  set(_env ${CMAKE_COMMAND} -E env SOURCE_DATE_EPOCH=${OUTPOST_SOURCE_DATE_EPOCH})
  file(GLOB _pkg_files CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/packaging/*
       ${CMAKE_SOURCE_DIR}/packaging/debian/*)
  set(_outputs ${OUTPOST_DEB} ${OUTPOST_DEB}.spdx.json)
  set(_sbom_cmds)
  foreach(t ${OUTPOST_SHIPPED_TARGETS})
    list(APPEND _outputs ${_rel}/${t}.spdx.json)
    list(APPEND _sbom_cmds COMMAND ${_env} ${CMAKE_SOURCE_DIR}/ci/sbom --lock ${CMAKE_BINARY_DIR}/pins.lock
         --version ${PROJECT_VERSION} --out ${_rel}/${t}.spdx.json --binary $<TARGET_FILE:${t}>)
  endforeach()
  add_custom_command(
    OUTPUT ${_outputs}
    COMMAND ${_env} ${CMAKE_SOURCE_DIR}/packaging/build-deb $<TARGET_FILE:outpost-agent>
            ${PROJECT_VERSION} ${_rel} ${_trust_args}
    COMMAND ${_env} ${CMAKE_SOURCE_DIR}/ci/sbom --lock ${CMAKE_BINARY_DIR}/pins.lock
            --version ${PROJECT_VERSION} --out ${OUTPOST_DEB}.spdx.json --deb ${OUTPOST_DEB}
    ${_sbom_cmds}
    DEPENDS ${OUTPOST_SHIPPED_TARGETS} ${_pkg_files} ${_trust_deps} ${CMAKE_BINARY_DIR}/pins.lock
            ${CMAKE_SOURCE_DIR}/ci/sbom ${CMAKE_SOURCE_DIR}/ci/outpost_pins.py
    COMMENT "Packaging ${OUTPOST_DEB} and writing SBOMs"
    VERBATIM)
  add_custom_target(release ALL DEPENDS ${_outputs})
endif()
