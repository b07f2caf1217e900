/* status.c — names and descriptions of wisp_status codes, and the bounded
 * message formatter every module uses to fill error buffers. */
#include <stdarg.h>
#include <stdio.h>

#include "util.h"
#include "wisp.h"

const char *wisp_status_str(wisp_status s) {
    switch (s) {
    case WISP_OK: return "ok";
    case WISP_ERR_IO: return "I/O error";
    case WISP_ERR_FORMAT: return "invalid file format";
    case WISP_ERR_UNSUPPORTED: return "unsupported";
    case WISP_ERR_OOM: return "out of memory";
    case WISP_ERR_ABORTED: return "aborted";
    case WISP_ERR_INVALID_ARG: return "invalid argument";
    case WISP_ERR_NEED_MORE: return "more data needed";
    case WISP_ERR_CONTEXT_FULL: return "context full";
    }
    return "unknown status";
}

const char *wisp_status_name(wisp_status s) {
    switch (s) {
    case WISP_OK: return "OK";
    case WISP_ERR_IO: return "IO";
    case WISP_ERR_FORMAT: return "FORMAT";
    case WISP_ERR_UNSUPPORTED: return "UNSUPPORTED";
    case WISP_ERR_OOM: return "OOM";
    case WISP_ERR_ABORTED: return "ABORTED";
    case WISP_ERR_INVALID_ARG: return "INVALID_ARG";
    case WISP_ERR_NEED_MORE: return "NEED_MORE";
    case WISP_ERR_CONTEXT_FULL: return "CONTEXT_FULL";
    }
    return "UNKNOWN";
}

wisp_status wisp_set_err(char *err, size_t err_len, wisp_status s, const char *fmt, ...) {
    if (err && err_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return s;
}
