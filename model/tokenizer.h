/*
** tokenizer.h — BERT BasicTokenizer + WordPiece, token-for-token identical to
** HuggingFace's BertTokenizer as sentence-transformers drives it
** (transformers 4.3x semantics).
**
**   text  --lowercase outside literal special tokens ([MASK], [SEP], ...)
**         --split those out, each kept whole
**         --per chunk: clean (drop NUL, U+FFFD, controls; whitespace -> ' ')
**                      CJK ideographs padded with spaces; NFC
**                      whitespace split; lowercase; NFD + drop Mn (strip accents)
**                      punctuation split
**         (sentence-transformers' strip of surrounding whitespace changes
**          no ids: cleaning and splitting drop the same characters)
**         --WordPiece: greedy longest match, "##" continuations,
**                      [UNK] for a word > 100 chars or with no match
**         --truncate to max_seq_length-2, add [CLS] ... [SEP]
**
** Invalid UTF-8 decodes as U+FFFD per bad sequence, which the cleaner drops.
** Unicode categories and normalization come from utf8proc.
*/
#ifndef SIAM_TOKENIZER_H
#define SIAM_TOKENIZER_H

#include "common.h"
#include "config.h"

typedef struct SiamTokenizer SiamTokenizer;

/* Builds a tokenizer over vocab[0..n_vocab-1] (id = index; tokens are
** copied, NUL-terminated UTF-8).  Fails (err set) if the unk, cls or sep
** token is missing from the vocab, or a token is empty or appears twice.
** (A literal pad/mask/extra special token absent from the vocab maps to unk.)
** The tokenizer is read-only once built: threads may share it. */
SiamTokenizer *siam_tokenizer_new(const SiamTokenizerConfig *cfg,
                                  const char *const *vocab, int n_vocab,
                                  char err[SIAM_ERRMAX]);

/* Tokenizes text[0..len) (not NUL-terminated; may hold NUL bytes and invalid
** UTF-8) into ids, [CLS] first and [SEP] last, truncated to max_seq_length.
** ids must hold cfg->max_seq_length entries.  Returns the count (>= 2), or
** -1 on allocation failure. */
int siam_tokenize(const SiamTokenizer *tok, const char *text, size_t len, int32_t *ids);

/* Looks a token up; -1 if absent. */
int siam_tokenizer_id(const SiamTokenizer *tok, const char *token, size_t len);

void siam_tokenizer_free(SiamTokenizer *tok);

#endif
