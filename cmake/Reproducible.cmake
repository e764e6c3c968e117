# Reproducible builds (issue #7; checked by ci/repro-check).
#  - Paths: the source and build directories are mapped to "." and "build" in
#    __FILE__, debug info and DW_AT_comp_dir. GCC tries the last -f*-prefix-map
#    first, so the build dir (often inside the source tree) comes last.
#  - Time: -Wdate-time makes any __DATE__/__TIME__/__TIMESTAMP__ an error
#    (with -Werror); SOURCE_DATE_EPOCH, when set, also pins them.
#  - Archives: ar/ranlib in deterministic mode (zero uid/gid/mtime).
#  - The GNU build-id is a hash of the linked output, so it follows.
add_compile_options(-Wdate-time
                    -ffile-prefix-map=${CMAKE_SOURCE_DIR}=.
                    -ffile-prefix-map=${CMAKE_BINARY_DIR}=build)
add_link_options(LINKER:--build-id=sha1)
set(CMAKE_C_ARCHIVE_CREATE "<CMAKE_AR> qcD <TARGET> <LINK_FLAGS> <OBJECTS>")
set(CMAKE_C_ARCHIVE_APPEND "<CMAKE_AR> qD <TARGET> <LINK_FLAGS> <OBJECTS>")
set(CMAKE_C_ARCHIVE_FINISH "<CMAKE_RANLIB> -D <TARGET>")
