# Hardened code generation for every target (issue #7). The agent runs as root
# on endpoints, so every binary we build gets the full Debian-style hardening
# set; tests/build/check_elf_hardening.sh reads the ELF files to prove it.
#
# OUTPOST_HARDEN (default ON) switches it off for experiments only.
#  - _FORTIFY_SOURCE=3 needs optimisation (glibc warns at -O0, and -Werror
#    turns that into a failure), so it is only added for optimised configs.
#  - ASan/UBSan and libFuzzer builds skip FORTIFY: the sanitizers intercept
#    the plain libc calls and the *_chk variants hide accesses from them.
include(CheckCCompilerFlag)
include(CheckPIESupported)

option(OUTPOST_HARDEN "Hardened compile and link flags (FORTIFY, SSP, PIE, RELRO/now, CET)" ON)

set(OUTPOST_HARDEN_FORTIFY OFF)
if(OUTPOST_HARDEN)
  check_pie_supported(LANGUAGES C)
  set(CMAKE_POSITION_INDEPENDENT_CODE ON)

  add_compile_options(-fstack-protector-strong)
  foreach(flag -fstack-clash-protection -fcf-protection=full)
    string(MAKE_C_IDENTIFIER "OUTPOST_HAS${flag}" var)
    check_c_compiler_flag(${flag} ${var})
    if(${var})
      add_compile_options(${flag})
    endif()
  endforeach()
  add_link_options(LINKER:-z,relro LINKER:-z,now LINKER:-z,noexecstack)

  if(NOT OUTPOST_SANITIZE AND NOT OUTPOST_FUZZ)
    set(OUTPOST_HARDEN_FORTIFY ON)
    # Debian's gcc does not predefine _FORTIFY_SOURCE; undefine first anyway so
    # a toolchain default of 2 cannot clash with ours.
    add_compile_options("$<$<NOT:$<CONFIG:Debug>>:-U_FORTIFY_SOURCE;-D_FORTIFY_SOURCE=3>")
  endif()
endif()
