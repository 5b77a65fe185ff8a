"""Trains the byte-level BPE tokenizer of lowbit-tiny-llama3 with the `tokenizers` package.

Same structure as the Llama 3 tokenizer — the Llama 3 pre-tokenizer regex (Split, Isolated) then
ByteLevel without its own regex, ByteLevel decoder, ByteLevel post-processor — with a small
vocabulary (4096 ids including <|begin_of_text|> and <|end_of_text|>) so that the embeddings do not
dominate a small model. lowbit's C++ tokenizer reads the result.

Usage: train_tiny_tokenizer.py TRAIN_TXT OUT_TOKENIZER_JSON [VOCAB_SIZE]
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from _require import require  # noqa: E402

tokenizers = require("tokenizers")
from tokenizers import Regex, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402

# The Llama 3 pre-tokenizer: contractions (any case), letter runs with one leading non-letter,
# 1-3 digit groups, punctuation runs, newline runs, whitespace not followed by non-space.
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>"]


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    train, out = sys.argv[1], sys.argv[2]
    vocab = int(sys.argv[3]) if len(sys.argv) == 4 else 4096
    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=SPECIAL, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([train], trainer)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tok.save(out)
    with open(train, encoding="utf-8") as f:
        text = f.read()
    n = len(tok.encode(text).ids)
    print(f"{out}: {tok.get_vocab_size()} ids; {train}: {len(text.encode('utf-8'))} bytes -> {n} tokens "
          f"({len(text.encode('utf-8')) / n:.2f} bytes/token)")


if __name__ == "__main__":
    main()
