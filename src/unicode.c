/* unicode.c — strict UTF-8 coding, codepoint category lookup over the generated tables
 * (unicode_data.c) and the GPT-2 byte<->codepoint mapping used by byte-level BPE. */
#include "unicode.h"

uint16_t wisp_cpt_flags(uint32_t cpt) {
    if (cpt < 256) return wisp_ucd_latin1[cpt];
    if (cpt >= 0x110000) return WISP_CPT_UNDEFINED;
    /* binary search for the last range starting at or before cpt */
    uint32_t lo = 0, hi = wisp_ucd_n_ranges;  /* invariant: start[lo] <= cpt < start[hi] */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (wisp_ucd_range_start[mid] <= cpt) lo = mid; else hi = mid;
    }
    return wisp_ucd_range_flags[lo];
}

size_t wisp_utf8_seq_len(unsigned char lead) {
    static const unsigned char lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[lead >> 4];
}

size_t wisp_utf8_decode(const unsigned char *s, size_t len, uint32_t *cpt) {
    if (len == 0) return 0;
    unsigned char c = s[0];
    if (c < 0x80) { *cpt = c; return 1; }
    size_t n;
    uint32_t v;
    unsigned char lo = 0x80, hi = 0xBF;  /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) { n = 2; v = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3; v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;        /* no overlongs */
        if (c == 0xED) hi = 0x9F;        /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4; v = c & 0x07;
        if (c == 0xF0) lo = 0x90;        /* no overlongs */
        if (c == 0xF4) hi = 0x8F;        /* nothing past U+10FFFF */
    } else {
        return 0;                         /* continuation byte, C0/C1 or F5..FF */
    }
    if (len < n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    v = (v << 6) | (s[1] & 0x3F);
    for (size_t i = 2; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cpt = v;
    return n;
}

bool wisp_utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) { i++; continue; }
        uint32_t cpt;
        size_t n = wisp_utf8_decode(p + i, len - i, &cpt);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

size_t wisp_utf8_encode(uint32_t cpt, char out[4]) {
    if (cpt < 0x80) { out[0] = (char)cpt; return 1; }
    if (cpt < 0x800) {
        out[0] = (char)(0xC0 | (cpt >> 6));
        out[1] = (char)(0x80 | (cpt & 0x3F));
        return 2;
    }
    if (cpt < 0x10000) {
        out[0] = (char)(0xE0 | (cpt >> 12));
        out[1] = (char)(0x80 | ((cpt >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cpt & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | ((cpt >> 18) & 0x07));
    out[1] = (char)(0x80 | ((cpt >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cpt >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cpt & 0x3F));
    return 4;
}

/* GPT-2's bytes_to_unicode: the printable bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF map to
 * themselves; the other 68 bytes, in increasing order, map to U+0100, U+0101, ... */
static bool gpt2_byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

uint32_t wisp_gpt2_byte_to_cpt(unsigned char b) {
    if (gpt2_byte_is_printable(b)) return b;
    /* count the non-printable bytes before b: 0x00..0x20 (33), 0x7F..0xA0 (34), 0xAD (1) */
    unsigned n;
    if (b <= 0x20) n = b;
    else if (b <= 0xA0) n = 33u + (b - 0x7Fu);
    else n = 33u + 34u;  /* b == 0xAD */
    return 256u + n;
}

int wisp_gpt2_cpt_to_byte(uint32_t cpt) {
    if (cpt < 256) return gpt2_byte_is_printable(cpt) ? (int)cpt : -1;
    if (cpt < 256 + 33) return (int)(cpt - 256);
    if (cpt < 256 + 67) return (int)(0x7F + (cpt - 256 - 33));
    if (cpt == 256 + 67) return 0xAD;
    return -1;
}
