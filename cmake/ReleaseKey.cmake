# The release signing key's public half, compiled into outpost-agent (issue #6,
# docs/updates.md). -DOUTPOST_RELEASE_PUBKEY=FILE.pem at configure time; the
# header depends only on the key's bytes (no path, no time), so two builds
# with the same key are identical (ci/repro-check). Without it the agent
# refuses every update and says so.
#
# Also a script: cmake -DPEM=FILE -DOUT=HEADER -P ReleaseKey.cmake (the
# integration tests build a second agent with a test key this way).

function(outpost_release_key_header pem out)
  set(body "")
  if(pem)
    if(NOT EXISTS "${pem}")
      message(FATAL_ERROR "OUTPOST_RELEASE_PUBKEY: ${pem} does not exist")
    endif()
    file(READ "${pem}" text)
    string(REPLACE "\r" "" text "${text}")
    if(NOT text MATCHES "^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n?$")
      message(FATAL_ERROR "OUTPOST_RELEASE_PUBKEY: ${pem} is not a PEM \"PUBLIC KEY\"")
    endif()
    string(REGEX REPLACE "\n$" "" text "${text}")
    string(REPLACE "\n" "\\n\" \\\n  \"" text "${text}")
    set(body " \\\n  \"${text}\\n\"")
  else()
    set(body " \"\"")
  endif()
  file(CONFIGURE OUTPUT "${out}" CONTENT
"/* Generated from OUTPOST_RELEASE_PUBKEY by cmake/ReleaseKey.cmake: do not edit.
 * Empty when the build has no release key (then every update is refused). */
#ifndef OUTPOST_RELEASE_KEY_H
#define OUTPOST_RELEASE_KEY_H
#define OUTPOST_RELEASE_PUBKEY_PEM${body}
#endif
" @ONLY)
endfunction()

if(CMAKE_SCRIPT_MODE_FILE)
  outpost_release_key_header("${PEM}" "${OUT}")
endif()
