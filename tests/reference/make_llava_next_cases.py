"""A small random LlavaNextForConditionalGeneration built with transformers (a 3-layer CLIP tower at
28 px with 7 px patches, anyres over two grid points, a 2-layer Llama), saved sharded, and what
transformers computes with it: the image processor's pixels for generated images of three shapes
(wide, tall, square: the square one ties the two grid points), the packed image features of each
(vision tower -> penultimate layer -> projector -> anyres unpad + image_newline), the logits of a
prompt holding two images, and greedy generation of 32 tokens from it (16 from two text-only prompts).
Usage: make_llava_next_cases.py OUT_DIR     (OUT_DIR/model/ and OUT_DIR/cases.safetensors)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

torch = require("torch")
transformers = require("transformers")
np = require("numpy")
Image = require("PIL.Image")
from safetensors.torch import save_file  # noqa: E402

IMAGE = 28
PINPOINTS = [[28, 56], [56, 28]]
IMAGE_TOKEN = 300
SIZES = [(20, 45), (50, 18), (28, 28)]  # (height, width)


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    vision = transformers.CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                           num_attention_heads=4, image_size=IMAGE, patch_size=7,
                                           projection_dim=32)
    text = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                    num_attention_heads=4, num_key_value_heads=2, vocab_size=320,
                                    max_position_embeddings=512, bos_token_id=1, eos_token_id=2,
                                    pad_token_id=0)
    config = transformers.LlavaNextConfig(vision_config=vision, text_config=text, image_token_index=IMAGE_TOKEN,
                                          image_grid_pinpoints=PINPOINTS, vision_feature_layer=-2,
                                          vision_feature_select_strategy="default")
    model = transformers.LlavaNextForConditionalGeneration(config).eval()
    with torch.no_grad():  # transformers initialises the newline and biases small: make them matter
        model.model.image_newline.normal_(0, 1)
        for p in model.model.multi_modal_projector.parameters():
            p.normal_(0, 0.2)
    model_dir = os.path.join(out, "model")
    model.save_pretrained(model_dir, max_shard_size="200KB")

    processor = transformers.LlavaNextImageProcessorPil(
        size={"shortest_edge": IMAGE}, crop_size={"height": IMAGE, "width": IMAGE}, image_grid_pinpoints=PINPOINTS)
    rng = np.random.default_rng(0)
    tensors = {}
    features = []
    for i, (h, w) in enumerate(SIZES):
        image = Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8))
        batch = processor(images=[image], return_tensors="pt")
        pixels, size = batch["pixel_values"][0], batch["image_sizes"][0]
        assert tuple(size.tolist()) == (h, w)
        tensors[f"image{i}.pixel_values"] = pixels.contiguous()  # [tiles + 1, 3, 28, 28]
        tensors[f"image{i}.size"] = size.to(torch.int64)
        with torch.no_grad():
            f = model.model.get_image_features(pixels[None], size[None], return_dict=True).pooler_output[0]
        tensors[f"image{i}.features"] = f.contiguous()  # [image tokens, text hidden]
        features.append(f)

    # A prompt holding images 0 and 1, each <image> expanded to its feature count.
    ids = [1, 17, 42] + [IMAGE_TOKEN] * features[0].shape[0] + [99, 5] + [IMAGE_TOKEN] * features[1].shape[0] + [7, 8, 9]
    input_ids = torch.tensor([ids])
    pixel_values = torch.nn.utils.rnn.pad_sequence(
        [tensors["image0.pixel_values"], tensors["image1.pixel_values"]], batch_first=True)
    image_sizes = torch.stack([tensors["image0.size"], tensors["image1.size"]])
    with torch.no_grad():
        logits = model(input_ids=input_ids, pixel_values=pixel_values, image_sizes=image_sizes).logits[0]
        model.generation_config.eos_token_id = None  # 32 tokens whatever they are: greedy, no stop
        generated = model.generate(input_ids=input_ids, pixel_values=pixel_values, image_sizes=image_sizes,
                                   max_new_tokens=32, do_sample=False)[0, len(ids):]
        assert generated.numel() == 32
        # Text-only prompts of other lengths (batched with the image prompt, they are left-padded).
        for k, length in enumerate((7, 40)):
            text_ids = torch.randint(3, IMAGE_TOKEN, (1, length), generator=torch.Generator().manual_seed(k))
            tensors[f"text{k}.input_ids"] = text_ids[0].to(torch.int64)
            tensors[f"text{k}.generated"] = model.generate(input_ids=text_ids, max_new_tokens=16,
                                                           do_sample=False)[0, length:].to(torch.int64).contiguous()
    tensors["prompt.input_ids"] = input_ids[0].to(torch.int64)
    tensors["prompt.logits"] = logits.contiguous()
    tensors["prompt.generated"] = generated.to(torch.int64).contiguous()
    save_file(tensors, os.path.join(out, "cases.safetensors"))
    print(f"LLaVA-NeXT cases: {len(SIZES)} images ({[tuple(features[i].shape) for i in range(len(SIZES))]} features), "
          f"prompt of {len(ids)} tokens, 32 generated")


if __name__ == "__main__":
    main()
