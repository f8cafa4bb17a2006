# Writes a C++ source defining a byte array with the contents of a file, so data the
# library needs (the common-password list) is part of the binary, not a file to find at
# run time. Used as a build step:
#   cmake -DIN=file -DOUT=file.cpp -DNAME=kSymbol -DNAMESPACE=ns -P embed_file.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# One line per 32 bytes keeps the generated file readable in a debugger.
string(REGEX REPLACE "((0x..,){32})" "\\1\n  " bytes "${bytes}")
file(WRITE "${OUT}.tmp"
"// Generated from ${IN} by embed_file.cmake. Do not edit.
#include <cstddef>
namespace ${NAMESPACE} {
extern const unsigned char ${NAME}[];
extern const std::size_t ${NAME}Size;
const unsigned char ${NAME}[] = {
  ${bytes}0x00};
const std::size_t ${NAME}Size = ${size};
}  // namespace ${NAMESPACE}
")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
