// LLaVA-NeXT's image side, as transformers' LlavaNextForConditionalGeneration computes it: the CLIP
// vision tower up to the feature layer, the two-layer projector, and the anyres packing (tiles laid
// out as one feature map, padding rows/columns removed, a learned newline after every row, the
// whole-image base tile first). The language model is lowbit's LLaMA (LlamaConfig with model_type
// llava_next); image features replace the embeddings of the prompt's image tokens.
// Pixels come prepared by the model's own image processor (launch/prepare_multimodal.py); nothing
// here decodes an image.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "framework/model/llama_config.h"

namespace lowbit {

struct ClipVisionConfig {
  int64_t hidden_size = 0, intermediate_size = 0, num_hidden_layers = 0, num_attention_heads = 0;
  int64_t image_size = 0, patch_size = 0, num_channels = 3;
  double layer_norm_eps = 1e-5;
  std::string hidden_act = "quick_gelu";  // quick_gelu or gelu
  int64_t grid() const { return image_size / patch_size; }  // features per tile side (24 at 336/14)
};

struct LlavaNextConfig {
  LlamaConfig text;
  ClipVisionConfig vision;
  int64_t image_token_id = 0;
  std::vector<std::pair<int64_t, int64_t>> grid_pinpoints;  // (height, width) in pixels
  std::vector<int64_t> feature_layers;  // hidden-state indices (negative from the end), concatenated
  std::string select_strategy = "default";  // "default" drops the CLS token, "full" keeps it
  std::string projector_act = "gelu";
  bool projector_bias = true;

  static LlavaNextConfig from_file(const std::string& config_path);
};

struct ClipLayerWeights {
  at::Tensor norm1_w, norm1_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, norm2_w, norm2_b, fc1_w, fc1_b, fc2_w, fc2_b;
};

struct LlavaNextVision {
  LlavaNextConfig config;
  at::Tensor class_embedding;     // [vision hidden]
  at::Tensor patch_embedding;     // [vision hidden, channels, patch, patch]
  at::Tensor position_embedding;  // [grid² + 1, vision hidden]
  at::Tensor pre_norm_w, pre_norm_b;
  std::vector<ClipLayerWeights> layers;  // only as many as the deepest feature layer needs
  at::Tensor projector1_w, projector1_b, projector2_w, projector2_b;
  at::Tensor image_newline;  // [text hidden]
};

// Reads the vision tower, projector and newline of a LlavaNextForConditionalGeneration directory
// (names as transformers saves them, with or without CLIPVisionModel's "vision_model." level).
LlavaNextVision load_llava_next_vision(const std::string& model_dir, c10::ScalarType dtype = c10::kFloat,
                                       c10::Device device = c10::kCPU);

// transformers' select_best_resolution: the pinpoint (height, width) keeping most of the image at
// the least waste; the first in list order on a tie.
std::pair<int64_t, int64_t> select_best_resolution(int64_t height, int64_t width,
                                                   const std::vector<std::pair<int64_t, int64_t>>& pinpoints);
// How many tiles the processor makes of an image: the best pinpoint's tiles + the base tile.
int64_t image_tile_count(const LlavaNextConfig& c, int64_t height, int64_t width);
// How many embeddings image_features gives for an image of that size (what one <image> expands to).
int64_t image_token_count(const LlavaNextConfig& c, int64_t height, int64_t width);

// The packed features of one image: pixels [tiles, channels, S, S] as the image processor made
// them (base tile first) for an image of (height, width) -> [image_token_count, text hidden].
at::Tensor image_features(const LlavaNextVision& v, const at::Tensor& pixels, int64_t height, int64_t width);

// embeds [T, hidden] with the rows where ids [T] == image_token_id replaced, in order, by
// features [n, hidden]; the counts must agree.
at::Tensor merge_image_features(const at::Tensor& embeds, const at::Tensor& ids, const at::Tensor& features,
                                int64_t image_token_id);

}  // namespace lowbit
