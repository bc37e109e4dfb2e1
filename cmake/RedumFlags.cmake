# Warnings are errors in every configuration; sanitizers are chosen with
# REDUM_SANITIZE (see CMakePresets.json).
add_compile_options(-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
                    -Wmissing-prototypes -fno-omit-frame-pointer)

if(REDUM_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(REDUM_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread)
  add_link_options(-fsanitize=thread)
  # fifo/ annotates ck_ring's hand-over with __tsan_acquire/__tsan_release.
  add_compile_definitions(REDUM_TSAN=1)
elseif(NOT REDUM_SANITIZE STREQUAL "")
  message(FATAL_ERROR "REDUM_SANITIZE must be '', 'address' or 'thread'")
endif()

# Debug builds check thread ownership (stack objects on the stack thread...).
add_compile_definitions($<$<CONFIG:Debug>:REDUM_DEBUG_OWNERSHIP=1>)
