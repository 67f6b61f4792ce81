# Build-time script (cmake -P): writes a C source that holds every file under KF_TEMPLATES_DIR
# (recursively) as a byte array plus its length, and a table {path relative to the dir, data,
# length} sorted by path, returned by kf_tpl_embedded() (include/k3sforge/template.h). Each array
# carries one extra NUL after the file's bytes (not counted in the length) so it can be used as
# a C string. The bytes are copied exactly (file(READ ... HEX)): no newline added or removed.
# Usage: cmake -DKF_TEMPLATES_DIR=DIR -DKF_OUTPUT=FILE.c -P embed-templates.cmake
# Lives outside cmake/*.cmake on purpose: those fragments are include()d at configure time.
cmake_minimum_required(VERSION 3.18)

if(NOT KF_TEMPLATES_DIR OR NOT KF_OUTPUT)
  message(FATAL_ERROR "usage: cmake -DKF_TEMPLATES_DIR=DIR -DKF_OUTPUT=FILE.c -P ${CMAKE_CURRENT_LIST_FILE}")
endif()

file(GLOB_RECURSE files LIST_DIRECTORIES false RELATIVE "${KF_TEMPLATES_DIR}" "${KF_TEMPLATES_DIR}/*")
list(SORT files)
if(NOT files)
  message(FATAL_ERROR "no templates under ${KF_TEMPLATES_DIR}")
endif()

# 16 bytes a line (CMake regexes have no {n})
string(REPEAT "0x[0-9a-f][0-9a-f]," 16 line16)
set(line16 "(${line16})")

set(arrays "")
set(table "")
set(i 0)
foreach(rel IN LISTS files)
  if(rel MATCHES "[\\\\\"?]" OR rel MATCHES "[^ -~]")
    message(FATAL_ERROR "template name '${rel}': use printable ASCII without quote, backslash or '?'")
  endif()
  file(READ "${KF_TEMPLATES_DIR}/${rel}" hex HEX)
  string(LENGTH "${hex}" nhex)
  math(EXPR len "${nhex} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "${line16}" "\\1\n\t" bytes "${bytes}")
  string(APPEND arrays "static const unsigned char tpl_${i}[${len} + 1] = {\n\t${bytes}0x00\n};\n\n")
  string(APPEND table "\t{ \"${rel}\", tpl_${i}, ${len} },\n")
  math(EXPR i "${i} + 1")
endforeach()

set(src "/* Generated at build time by cmake/tools/embed-templates.cmake from templates/.\n")
string(APPEND src " * Do not edit: edit templates/ and rebuild. */\n")
string(APPEND src "#include <stddef.h>\n\n#include \"k3sforge/template.h\"\n\n")
string(APPEND src "${arrays}")
string(APPEND src "static const struct kf_tpl_file tpl_files[${i}] = {\n${table}};\n\n")
string(APPEND src "const struct kf_tpl_file *kf_tpl_embedded(size_t *n)\n{\n")
string(APPEND src "\t*n = sizeof(tpl_files) / sizeof(tpl_files[0]);\n\treturn tpl_files;\n}\n")

# Written beside and renamed, so an interrupted build never leaves half a file.
file(WRITE "${KF_OUTPUT}.tmp" "${src}")
file(RENAME "${KF_OUTPUT}.tmp" "${KF_OUTPUT}")
