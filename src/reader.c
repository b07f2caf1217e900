/* reader.c — the memory-buffer wisp_reader. (The stdio file reader lives with
 * wisp_model_load_file in model_file.c, so the core library itself needs no file
 * system, e.g. under Emscripten.) */
#include <string.h>

#include "wisp.h"

/* The parser and loader never call read() beyond reader->size, so the buffer
 * pointer is all the state a memory reader needs. */
static int mem_read(void *user, void *dst, uint64_t offset, size_t len) {
    memcpy(dst, (const unsigned char *)user + offset, len);
    return 0;
}

wisp_reader wisp_reader_memory(const void *data, size_t size) {
    wisp_reader r;
    r.user = (void *)data;
    r.size = size;
    r.read = mem_read;
    return r;
}
