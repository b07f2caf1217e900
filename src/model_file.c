/* model_file.c — the stdio file reader and wisp_model_load_file (native builds and
 * tools; the browser build streams bytes through its own reader instead). */
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "util.h"
#include "wisp.h"

static int file_read(void *user, void *dst, uint64_t offset, size_t len) {
    FILE *f = (FILE *)user;
    if (offset > (uint64_t)INT64_MAX) return -1;
    if (fseeko(f, (off_t)offset, SEEK_SET) != 0) return -1;
    return fread(dst, 1, len, f) == len ? 0 : -1;
}

wisp_status wisp_model_load_file(const char *path, const wisp_model_params *p, wisp_model **out, char *err,
                                 size_t err_len) {
    if (out) *out = NULL;
    if (!path || !out) return wisp_set_err(err, err_len, WISP_ERR_INVALID_ARG, "wisp_model_load_file: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f) return wisp_set_err(err, err_len, WISP_ERR_IO, "%s: cannot open file", path);
    if (fseeko(f, 0, SEEK_END) != 0) {
        fclose(f);
        return wisp_set_err(err, err_len, WISP_ERR_IO, "%s: cannot seek", path);
    }
    off_t size = ftello(f);
    if (size < 0) {
        fclose(f);
        return wisp_set_err(err, err_len, WISP_ERR_IO, "%s: cannot determine size", path);
    }
    wisp_reader r = {f, (uint64_t)size, file_read};
    char msg[512] = "";
    wisp_status s = wisp_model_load(&r, p, out, msg, sizeof msg);
    fclose(f);
    if (s != WISP_OK) return wisp_set_err(err, err_len, s, "%s: %s", path, msg);
    return WISP_OK;
}
