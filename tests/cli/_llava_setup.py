"""A random LlavaNextForConditionalGeneration saved as a model directory lowbit and transformers both
read: CLIP at 28 px with 7 px patches, anyres over two grid points, a Llama language model with the
real Llama 3 vocabulary, its tokenizer files, the image processor, and generation_config stopping at
<|end_of_text|> / <|eot_id|>. Shared by tests/cli/check_llava_eval.py and
benchmarks/compare_generation_with_hf.py."""
import os
import shutil

import torch
import transformers

IMAGE_TOKEN = 128256
PINPOINTS = [[28, 56], [56, 28]]


def make_llava(model_dir, tokenizer_dir, hidden=128, intermediate=256, layers=2, heads=4, kv_heads=2, seed=0):
    """Writes the model to MODEL_DIR and returns it (transformers, eval mode)."""
    torch.manual_seed(seed)
    vision = transformers.CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                           num_attention_heads=4, image_size=28, patch_size=7, projection_dim=32)
    text = transformers.LlamaConfig(hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                                    num_attention_heads=heads, num_key_value_heads=kv_heads, vocab_size=128320,
                                    max_position_embeddings=2048, bos_token_id=128000, eos_token_id=128009)
    config = transformers.LlavaNextConfig(vision_config=vision, text_config=text, image_token_index=IMAGE_TOKEN,
                                          image_grid_pinpoints=PINPOINTS, vision_feature_layer=-2,
                                          vision_feature_select_strategy="default")
    model = transformers.LlavaNextForConditionalGeneration(config).eval()
    with torch.no_grad():  # transformers initialises these small: make the image side matter
        model.model.image_newline.normal_(0, 1)
        for p in model.model.multi_modal_projector.parameters():
            p.normal_(0, 0.2)
    model.generation_config.eos_token_id = [128001, 128009]
    model.save_pretrained(model_dir, max_shard_size="20MB")
    transformers.LlavaNextImageProcessorPil(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28},
                                            image_grid_pinpoints=PINPOINTS).save_pretrained(model_dir)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tokenizer_dir, f), model_dir)
    return model


SYSTEM = ("You are a helpful language and vision assistant. You are able to understand the visual content that the "
          "user provides, and assist the user with a variety of tasks using natural language.")


def prompt_ids(tok, prompt, image_tokens):
    """lmms-eval's llava model with conv_template=llava_llama_3: the chat template over the system prompt and
    "<image>\\n" + prompt, then LLaVA-NeXT's tokenizer_image_token (transcribed), the placeholder expanded."""
    text = tok.apply_chat_template([{"role": "system", "content": SYSTEM},
                                    {"role": "user", "content": "<image>\n" + prompt}],
                                   tokenize=False, add_generation_prompt=True)
    chunks = [tok(c).input_ids for c in text.split("<image>")]
    ids, offset = [], 0
    if chunks[0] and chunks[0][0] == tok.bos_token_id:
        offset, ids = 1, [chunks[0][0]]
    for k, c in enumerate(chunks):
        if k:
            ids += [IMAGE_TOKEN] * image_tokens
        ids += c[offset:]
    return ids
