/* tokenizer_spm.c — SentencePiece-style tokenization ("llama" vocabularies) as llama.cpp's
 * llm_tokenizer_spm does it: spaces become U+2581, then adjacent symbols are merged
 * best-score-first while the merged text is a token; leftovers fall back to <0xNN>. */
#include <string.h>

#include "tokenizer_internal.h"
#include "unicode.h"

static bool spm_add_candidate(const wisp_vocab *v, wisp_tok_scratch *s, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return true;
    const wisp_symbol *l = &s->sym[left], *r = &s->sym[right];
    /* adjacent symbols are contiguous in the buffer, so the pair's text is one range */
    int32_t id = wisp_vocab_find(v, s->buf + l->off, (size_t)l->n + r->n);
    if (id < 0) return true;
    wisp_merge_cand c;
    c.prio = (double)v->score[id];  /* highest score first */
    c.left = left;
    c.right = right;
    c.size = l->n + r->n;
    return wisp_merge_heap_push(&s->heap, c);
}

bool wisp_spm_tokenize(const wisp_vocab *v, wisp_tok_scratch *s, const char *text, size_t len,
                       bool add_space, wisp_tokbuf *out) {
    /* escaped text: optional leading space, every ' ' as U+2581 (3 bytes) */
    size_t need = (len + 1) * 3 + 1;
    if ((uint64_t)need > UINT32_MAX) return false;  /* symbol offsets are 32-bit */
    if (!wisp_scratch_reserve((void **)&s->buf, &s->buf_cap, need, 1)) return false;
    size_t blen = 0;
    static const char esc[3] = {(char)0xE2, (char)0x96, (char)0x81};
    if (add_space) {
        memcpy(s->buf, esc, 3);
        blen = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(s->buf + blen, esc, 3);
            blen += 3;
        } else {
            s->buf[blen++] = text[i];
        }
    }
    if (blen == 0) return true;

    bool ok;
    size_t nsym = wisp_symbols_from_utf8(s, blen, &ok);
    if (!ok) return false;
    size_t i;

    s->heap.n = 0;
    for (i = 1; i < nsym; i++)
        if (!spm_add_candidate(v, s, (int32_t)i - 1, (int32_t)i)) return false;
    while (s->heap.n > 0) {
        wisp_merge_cand c = wisp_merge_heap_pop(&s->heap);
        wisp_symbol *l = &s->sym[c.left], *r = &s->sym[c.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != c.size) continue;  /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s->sym[r->next].prev = c.left;
        if (!spm_add_candidate(v, s, l->prev, c.left)) return false;
        if (!spm_add_candidate(v, s, c.left, l->next)) return false;
    }

    /* Every merged symbol is a token (merges only happen into tokens), so a symbol that
     * is not a token is a single character: emit its bytes as byte tokens. This is what
     * llama.cpp's resegment() amounts to. */
    for (int32_t k = 0; k != -1; k = s->sym[k].next) {
        const wisp_symbol *sy = &s->sym[k];
        int32_t id = wisp_vocab_find(v, s->buf + sy->off, sy->n);
        if (id >= 0) {
            wisp_tokbuf_push(out, id);
            continue;
        }
        for (uint32_t j = 0; j < sy->n; j++) {
            int32_t b = v->byte_token[(unsigned char)s->buf[sy->off + j]];
            if (b < 0) b = v->unk;  /* llama.cpp throws here; UNK is the sane stand-in */
            if (b >= 0) wisp_tokbuf_push(out, b);
        }
    }
    return !out->oom;
}
