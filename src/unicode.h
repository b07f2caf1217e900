/* unicode.h — the little Unicode support the tokenizers need: strict UTF-8 decoding,
 * codepoint category flags (grouped as llama.cpp groups them) and GPT-2's byte<->unicode map. */
#ifndef WISP_UNICODE_H
#define WISP_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Category flags: exactly one of the low eight bits is set for any codepoint (the
 * general-category group), plus WHITESPACE for the Unicode White_Space set.
 * Values match llama.cpp's unicode_cpt_flags so behaviour can be compared 1:1. */
enum {
    WISP_CPT_UNDEFINED = 0x0001,   /* Cn (unassigned) */
    WISP_CPT_NUMBER = 0x0002,      /* \p{N} */
    WISP_CPT_LETTER = 0x0004,      /* \p{L} */
    WISP_CPT_SEPARATOR = 0x0008,   /* \p{Z} */
    WISP_CPT_MARK = 0x0010,        /* \p{M} */
    WISP_CPT_PUNCTUATION = 0x0020, /* \p{P} */
    WISP_CPT_SYMBOL = 0x0040,      /* \p{S} */
    WISP_CPT_CONTROL = 0x0080,     /* \p{C} except Cn */
    WISP_CPT_CATEGORY_MASK = 0x00FF,
    WISP_CPT_WHITESPACE = 0x0100,  /* White_Space (PropList.txt) */
};

/* Generated tables (src/unicode_data.c). */
extern const char wisp_unicode_version[];
extern const uint16_t wisp_ucd_latin1[256];
extern const uint32_t wisp_ucd_n_ranges;
extern const uint32_t wisp_ucd_range_start[];
extern const uint16_t wisp_ucd_range_flags[];

/* Flags of a codepoint; codepoints past U+10FFFF are UNDEFINED. */
uint16_t wisp_cpt_flags(uint32_t cpt);

/* Decodes one strictly valid UTF-8 sequence (no overlongs, surrogates or values past
 * U+10FFFF) at s[0..len). Returns its length (1..4) and sets *cpt, or 0 if invalid. */
size_t wisp_utf8_decode(const unsigned char *s, size_t len, uint32_t *cpt);
/* True when all of s[0..len) is valid UTF-8. */
bool wisp_utf8_valid(const char *s, size_t len);
/* Encodes cpt (<= U+10FFFF) into out; returns the byte count (1..4). */
size_t wisp_utf8_encode(uint32_t cpt, char out[4]);
/* Length of the sequence a lead byte announces (as llama.cpp's unicode_len_utf8: 1 for
 * continuation/invalid bytes). */
size_t wisp_utf8_seq_len(unsigned char lead);

/* GPT-2 byte-level BPE: every byte is shown as a printable codepoint. */
uint32_t wisp_gpt2_byte_to_cpt(unsigned char b);
/* Inverse of the above; -1 when cpt is not the image of any byte. */
int wisp_gpt2_cpt_to_byte(uint32_t cpt);

#endif
